-- Repeatable: applied after the numbered migrations whenever this file changes (see
-- src/stores/postgres/migrator.ts); the one definition the code runs. First defined in
-- 0011_append_messages.sql, rewritten in 0012_cheaper_appends.sql.
--
-- Appends a batch of messages in one statement: locks the batch's sessions in id order, answers
-- a retried (session, sender, client_msg_id) with the committed row, numbers new messages
-- gap-free per session in the order given, and advances each session's last_seq once.
-- One row per input, `ord` its 1-based position, `outcome` one of:
--   'n'  new: inserted with `seq`
--   'd'  a repeat of an earlier item of this batch: `id` is that item's message
--   'c'  already committed before this batch: the stored row
--   'm'  the session does not exist
-- (Letters rather than words: nodes of the previous release read these during a rolling upgrade.)

create or replace function vh_append_messages(
  p_session_ids uuid[],
  p_sender_ids uuid[],
  p_client_msg_ids text[],
  p_ids uuid[],
  p_roles text[],
  p_contents text[],
  p_content_types text[],
  p_metadata jsonb[],
  p_tokens int[],
  p_processing int[]
) returns table (
  ord int,
  outcome text,
  id uuid,
  seq bigint,
  created_at timestamptz,
  role text,
  content text,
  content_type text,
  metadata jsonb,
  client_msg_id text,
  sender_id uuid,
  tokens_used int,
  processing_time_ms int
)
language plpgsql
volatile
-- Planned once per connection: a custom plan per call would cost more than the work.
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_last_seq bigint;
  v_created timestamptz;
  v_found messages%rowtype;
begin
  -- A batch of one (a lone message, the common case below saturation): plain statements.
  if cardinality(p_session_ids) = 1 then
    select s.last_seq, s.created_at into v_last_seq, v_created from sessions s where s.id = p_session_ids[1] for update;
    if not found then
      return query select 1, 'm'::text, null::uuid, null::bigint, null::timestamptz, null::text, null::text, null::text,
                          null::jsonb, null::text, null::uuid, null::int, null::int;
      return;
    end if;
    select m.* into v_found from messages m
     where m.session_id = p_session_ids[1] and m.client_msg_id = p_client_msg_ids[1]
       and (m.sender_id = p_sender_ids[1] or m.sender_id is null) and m.created_at >= v_created
     order by m.sender_id nulls last
     limit 1;
    if found then
      return query select 1, 'c'::text, v_found.id, v_found.seq, v_found.created_at, v_found.role::text, v_found.content,
                          v_found.content_type::text, v_found.metadata, v_found.client_msg_id::text, v_found.sender_id,
                          v_found.tokens_used, v_found.processing_time_ms;
      return;
    end if;
    insert into messages (id, session_id, seq, role, content, content_type, metadata, client_msg_id,
                          tokens_used, processing_time_ms, sender_id)
    values (p_ids[1], p_session_ids[1], v_last_seq + 1, p_roles[1], p_contents[1], p_content_types[1], p_metadata[1],
            p_client_msg_ids[1], p_tokens[1], p_processing[1], p_sender_ids[1]);
    update sessions s set last_seq = v_last_seq + 1, updated_at = vh_activity_time(s.updated_at) where s.id = p_session_ids[1];
    return query select 1, 'n'::text, p_ids[1], v_last_seq + 1, now(), null::text, null::text, null::text, null::jsonb,
                        null::text, null::uuid, null::int, null::int;
    return;
  end if;

  perform 1 from sessions s where s.id = any(p_session_ids) order by s.id for update;
  return query
  with input as (
    select u.ord::int as ord, u.session_id, u.sender_id, u.client_msg_id, u.id, u.role, u.content,
           u.content_type, u.metadata, u.tokens, u.processing
      from unnest(p_session_ids, p_sender_ids, p_client_msg_ids, p_ids, p_roles, p_contents,
                  p_content_types, p_metadata, p_tokens, p_processing)
           with ordinality as u(session_id, sender_id, client_msg_id, id, role, content, content_type,
                                metadata, tokens, processing, ord)
  ),
  known as (
    select s.id, s.last_seq, s.created_at from sessions s where s.id = any(p_session_ids)
  ),
  earlier as (
    select i.ord, m.id, m.seq, m.created_at, m.role::text as role, m.content, m.content_type::text as content_type,
           m.metadata, m.client_msg_id::text as client_msg_id, m.sender_id, m.tokens_used, m.processing_time_ms
      from input i
      join known k on k.id = i.session_id
      cross join lateral (
        select * from messages m
         where m.session_id = i.session_id and m.client_msg_id = i.client_msg_id
           and (m.sender_id = i.sender_id or m.sender_id is null) and m.created_at >= k.created_at
         order by m.sender_id nulls last
         limit 1
      ) m
  ),
  fresh as (
    select i.*, first_value(i.id) over same_key as first_id, row_number() over same_key as occurrence
      from input i
      join known k on k.id = i.session_id
     where not exists (select 1 from earlier e where e.ord = i.ord)
    window same_key as (partition by i.session_id, i.sender_id, i.client_msg_id order by i.ord)
  ),
  numbered as (
    select f.*, k.last_seq + row_number() over (partition by f.session_id order by f.ord) as new_seq
      from fresh f
      join known k on k.id = f.session_id
     where f.occurrence = 1
  ),
  inserted as (
    insert into messages (id, session_id, seq, role, content, content_type, metadata, client_msg_id,
                          tokens_used, processing_time_ms, sender_id)
    select n.id, n.session_id, n.new_seq, n.role, n.content, n.content_type, n.metadata, n.client_msg_id,
           n.tokens, n.processing, n.sender_id
      from numbered n
    returning 1
  ),
  advanced as (
    update sessions s set last_seq = x.last_seq, updated_at = vh_activity_time(s.updated_at)
      from (select n.session_id, max(n.new_seq) as last_seq from numbered n group by n.session_id) x
     where s.id = x.session_id
    returning 1
  )
  select n.ord, 'n'::text, n.id, n.new_seq, now(), null::text, null::text, null::text, null::jsonb,
         null::text, null::uuid, null::int, null::int
    from numbered n
  union all
  select f.ord, 'd'::text, f.first_id, null::bigint, null::timestamptz, null::text, null::text, null::text,
         null::jsonb, null::text, null::uuid, null::int, null::int
    from fresh f where f.occurrence > 1
  union all
  select e.ord, 'c'::text, e.id, e.seq, e.created_at, e.role, e.content, e.content_type, e.metadata,
         e.client_msg_id, e.sender_id, e.tokens_used, e.processing_time_ms
    from earlier e
  union all
  select i.ord, 'm'::text, null::uuid, null::bigint, null::timestamptz, null::text, null::text, null::text,
         null::jsonb, null::text, null::uuid, null::int, null::int
    from input i where not exists (select 1 from known k where k.id = i.session_id);
  -- (The insert and the update run although nothing reads them: PostgreSQL executes every
  -- data-modifying WITH query to completion.)
end;
$$;
