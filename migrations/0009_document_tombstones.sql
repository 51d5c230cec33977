-- A document being deleted is first marked 'deleting' (a tombstone): it disappears from
-- every read at once, a running ingestion sees it before each write and stops, and the
-- removal from every store runs under the document's lock (after that ingestion let go).
-- A node that dies half-way leaves the tombstone for the reconciler to finish.
alter table documents drop constraint documents_status_check;
alter table documents add constraint documents_status_check check (status in ('processing', 'ready', 'failed', 'deleting'));
create index documents_status_updated_idx on documents (status, updated_at) where status in ('processing', 'deleting');
