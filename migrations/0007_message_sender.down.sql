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
    execute format('drop index if exists %I', part.name || '_session_id_client_msg_id_sender_id_key');
    execute format('create unique index %I on %I (session_id, client_msg_id)',
                   part.name || '_session_id_client_msg_id_key', part.name);
  end loop;
end $$;

alter table messages drop column sender_id;
