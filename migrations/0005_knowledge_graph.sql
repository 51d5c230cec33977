-- The embedded knowledge graph (used when NEO4J_URI is not set): the same model as the
-- Neo4j adapter keeps, as tables. Entities belong to one owner (their id is derived from
-- owner, type and normalised name, so relations never cross owners).
alter table graph_entities
  add column owner_id text not null default '',
  add column description text not null default '',
  -- Added by hand through the API: kept when no document mentions it any more.
  add column manual boolean not null default false;
create index graph_entities_owner_idx on graph_entities (owner_id);

-- (:Document {id, title})
create table graph_documents (
  id text primary key,
  owner_id text not null,
  title text not null default '',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- (:Document)-[:CONTAINS {confidence, position, context}]->(:Entity)
create table graph_contains (
  document_id text not null references graph_documents (id) on delete cascade,
  entity_id text not null references graph_entities (id) on delete cascade,
  confidence double precision not null,
  position integer not null,
  context text not null default '',
  primary key (document_id, entity_id)
);
create index graph_contains_entity_idx on graph_contains (entity_id);

-- (:Entity)-[:RELATED_TO {weight, type}]->(:Entity) and
-- (:Entity)-[:CO_OCCURS {frequency, documents, strength}]->(:Entity) (strength kept in
-- `weight`). A CO_OCCURS row is the sum of the per-document counts in graph_cooccurrences.
create table graph_relations (
  id text primary key,
  source_id text not null references graph_entities (id) on delete cascade,
  target_id text not null references graph_entities (id) on delete cascade,
  relation_type text not null check (relation_type in ('RELATED_TO', 'CO_OCCURS')),
  type text not null default '',
  weight double precision not null check (weight >= 0 and weight <= 1),
  frequency integer not null default 0,
  documents text[] not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (relation_type, source_id, target_id, type)
);
create index graph_relations_source_idx on graph_relations (source_id, relation_type);
create index graph_relations_target_idx on graph_relations (target_id, relation_type);

-- How often two entities share a chunk, per document.
create table graph_cooccurrences (
  document_id text not null references graph_documents (id) on delete cascade,
  source_id text not null references graph_entities (id) on delete cascade,
  target_id text not null references graph_entities (id) on delete cascade,
  frequency integer not null check (frequency > 0),
  primary key (source_id, target_id, document_id)
);
create index graph_cooccurrences_document_idx on graph_cooccurrences (document_id);

-- Advanced after every committed change; cached algorithm results are keyed by it.
create sequence graph_version_seq;
