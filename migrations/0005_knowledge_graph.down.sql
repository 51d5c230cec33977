drop sequence if exists graph_version_seq;
drop table if exists graph_cooccurrences;
drop table if exists graph_relations;
drop table if exists graph_contains;
drop table if exists graph_documents;
drop index if exists graph_entities_owner_idx;
alter table graph_entities drop column if exists manual, drop column if exists description, drop column if exists owner_id;
