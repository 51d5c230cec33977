-- Graph tables used when NEO4J_URI is not set (the embedded default keeps its knowledge
-- graph in PostgreSQL; algorithms run in-process). With Neo4j configured they stay empty.
create table graph_entities (
  id text primary key,
  name text not null,
  type text not null,
  properties jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index graph_entities_name_idx on graph_entities (name);
create index graph_entities_type_idx on graph_entities (type);
