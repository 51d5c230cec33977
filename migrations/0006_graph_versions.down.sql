drop table if exists graph_versions;
create sequence if not exists graph_version_seq;
