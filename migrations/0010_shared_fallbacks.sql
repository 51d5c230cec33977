-- What a cluster without Milvus or S3 shares through PostgreSQL.
--
-- vector_chunks: chunk embeddings when MILVUS_ADDRESS is not set (one table for every
-- collection; embeddings as little-endian float32 bytes). Every node searches its own
-- in-memory copy and follows vector_changes, a log of what each write touched, in id
-- order; writers append to the log under a per-collection lock held until commit, so ids
-- become visible in order and a reader that has seen id N has seen every change before it.
create table vector_chunks (
  collection text not null,
  chunk_id text not null,
  document_id text not null,
  owner_id text not null,
  content text not null,
  embedding bytea not null,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  primary key (collection, chunk_id)
);
create index vector_chunks_document_idx on vector_chunks (collection, document_id);

create table vector_changes (
  id bigserial primary key,
  collection text not null,
  document_id text not null,
  -- The chunks written; NULL when every chunk of the document was removed.
  chunk_ids text[],
  created_at timestamptz not null default now()
);
create index vector_changes_collection_idx on vector_changes (collection, id);

-- cluster_markers: facts every node of a cluster must agree on, such as which object
-- directory the cluster's nodes share (a marker file in it must hold the same value).
create table cluster_markers (
  name text primary key,
  value text not null,
  created_at timestamptz not null default now()
);
