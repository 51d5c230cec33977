-- Change counters of the embedded graph, per owner (`owner:<id>`) and for the whole graph
-- (`graph`), advanced after every committed write; cached algorithm results are keyed by
-- them. They replace the single sequence of migration 0005, which any user's write advanced.
create table graph_versions (
  scope text primary key,
  version bigint not null
);
drop sequence if exists graph_version_seq;
