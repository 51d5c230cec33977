-- Repeatable: applied after the numbered migrations whenever this file changes (see
-- src/stores/postgres/migrator.ts). The tables are in 0015_agent_dispatch.sql.
--
-- Assigns up to p_limit waiting sessions of one agent, oldest wait first, each to the least
-- loaded live worker of the agent (a row renewed within its lease) with room under its
-- capacity, never to the worker that handed the session back. One row per assignment made,
-- with the assignment's epoch.
--
-- One dispatcher of an agent at a time across the cluster: the advisory lock (held until the
-- transaction ends) keeps the loads counted here from changing underneath, so two nodes
-- dispatching at once can neither give one session twice nor fill a worker past capacity.
create or replace function vh_agent_dispatch(p_agent text, p_limit int)
returns table (assigned_session uuid, assigned_worker uuid, assigned_epoch bigint)
language plpgsql
as $$
declare
  waiting record;
  chosen uuid;
begin
  perform pg_advisory_xact_lock(hashtextextended('vh_agent_dispatch:' || p_agent, 0));
  for waiting in
    select a.session_id, a.released_by from agent_assignments a
     where a.agent = p_agent and a.worker_id is null
     order by a.waiting_since, a.session_id
     limit p_limit
  loop
    select w.worker_id into chosen
      from agent_workers w
      cross join lateral (select count(*) as n from agent_assignments x where x.worker_id = w.worker_id) load
     where w.agent = p_agent
       and w.seen_at + w.lease_ms * interval '1 millisecond' > now()
       and w.worker_id is distinct from waiting.released_by
       and load.n < w.capacity
     order by load.n::float8 / w.capacity, load.n, w.registered_at, w.worker_id
     limit 1;
    continue when chosen is null;
    update agent_assignments a
       set worker_id = chosen, epoch = a.epoch + 1, assigned_at = now()
     where a.session_id = waiting.session_id and a.worker_id is null
    returning a.session_id, a.worker_id, a.epoch into assigned_session, assigned_worker, assigned_epoch;
    if found then
      return next;
    end if;
  end loop;
end
$$;
