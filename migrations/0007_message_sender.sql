-- Idempotency per (session, sender): a clientMsgId is the sender's own key, so a service's
-- reply can never be swallowed by a user's message that happened to use the same id.
--  * messages.sender_id: the authenticated user who sent it (the stream's owner for an
--    interrupted turn). Rows written before this migration keep NULL and are still found
--    by (session_id, client_msg_id) alone, as they were when they were written.
--  * each partition's unique key (session_id, client_msg_id) becomes
--    (session_id, client_msg_id, sender_id); the partition maintainer gives new partitions
--    the same key.
alter table messages add column sender_id uuid;

do $$
declare
  part record;
begin
  for part in
    select c.relname as name
      from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent
     where p.relname = 'messages'
  loop
    execute format('drop index if exists %I', part.name || '_session_id_client_msg_id_key');
    execute format('drop index if exists %I', part.name || '_session_client_key');
    execute format('create unique index %I on %I (session_id, client_msg_id, sender_id)',
                   part.name || '_session_id_client_msg_id_sender_id_key', part.name);
  end loop;
end $$;
