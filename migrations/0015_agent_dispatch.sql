-- Assistant dispatch (protocol v7). A session may name an agent; each such session that is
-- active is assigned to one live registered worker of that agent, cluster-wide.
--
-- `agent_workers`: the registrations of the sockets that serve an agent, one row a socket,
-- kept alive by their node (`seen_at`, every AGENT_REDISPATCH_MS / 5). A row not renewed within
-- its `lease_ms` (its node's, so that nodes configured apart never judge each other's workers)
-- is removed by whichever node sweeps first, and its sessions are dispatched again.
-- Live state only: backups leave it out.
--
-- `agent_assignments`: one row per session that names an agent while the session is active;
-- `worker_id` null while it waits for a worker. `epoch` grows with every assignment of the
-- session (the fencing token of that assignment), `released_by` is the worker that handed it
-- back, which is not given it again. No foreign key on `worker_id`: a worker is removed in the
-- same statement that returns its sessions to waiting (see src/stores/postgres/repositories/agents.ts).
alter table sessions add column agent varchar(64);

create table agent_workers (
  worker_id uuid primary key,
  agent varchar(64) not null,
  user_id uuid not null,
  node_id text not null,
  capacity int not null check (capacity > 0),
  lease_ms int not null check (lease_ms > 0),
  registered_at timestamptz not null default now(),
  seen_at timestamptz not null default now()
);
create index agent_workers_agent_idx on agent_workers (agent);

create table agent_assignments (
  session_id uuid primary key references sessions (id) on delete cascade,
  agent varchar(64) not null,
  worker_id uuid,
  epoch bigint not null default 0,
  released_by uuid,
  waiting_since timestamptz not null default now(),
  assigned_at timestamptz
);
create index agent_assignments_worker_idx on agent_assignments (worker_id) where worker_id is not null;
create index agent_assignments_waiting_idx on agent_assignments (agent, waiting_since) where worker_id is null;
