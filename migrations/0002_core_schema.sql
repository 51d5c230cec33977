-- The seed's schema (section 5.2), corrected:
--  * messages and audit_logs are PARTITION BY RANGE (created_at) with primary keys that
--    include created_at and a DEFAULT partition; monthly partitions are created ahead of
--    time by the partition maintainer (src/stores/postgres/partitions.ts), never here;
--  * messages carry seq, client_msg_id and content_type; per-partition unique indexes on
--    (session_id, seq) and (session_id, client_msg_id) are added by the maintainer to each
--    partition, and the session-row lock taken by every append makes both unique across
--    partitions;
--  * timestamps are timestamptz; statuses and roles are checked.

create table users (
  id uuid primary key default gen_random_uuid(),
  email varchar(255) not null,
  username varchar(100) not null,
  password_hash varchar(255) not null,
  status varchar(20) not null default 'active' check (status in ('active', 'disabled')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  last_login_at timestamptz,
  profile jsonb not null default '{}'::jsonb,
  settings jsonb not null default '{}'::jsonb
);
create unique index users_email_key on users (lower(email));

create table user_roles (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  role_name varchar(50) not null check (role_name in ('user', 'service', 'admin')),
  granted_at timestamptz not null default now(),
  granted_by uuid references users (id) on delete set null,
  unique (user_id, role_name)
);

create table sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  title varchar(255) not null default '',
  context jsonb not null default '{}'::jsonb,
  status varchar(20) not null default 'active' check (status in ('active', 'archived')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  metadata jsonb not null default '{}'::jsonb,
  last_seq bigint not null default 0
);
create index sessions_user_updated_idx on sessions (user_id, updated_at desc, id desc);
create index sessions_created_at_idx on sessions (created_at);

create table messages (
  id uuid not null default gen_random_uuid(),
  session_id uuid not null references sessions (id) on delete cascade,
  seq bigint not null check (seq > 0),
  role varchar(20) not null check (role in ('user', 'assistant', 'system', 'tool')),
  content text not null,
  content_type varchar(50) not null default 'text' check (content_type in ('text', 'transcript', 'audio')),
  metadata jsonb not null default '{}'::jsonb,
  client_msg_id varchar(64),
  created_at timestamptz not null default now(),
  tokens_used integer,
  processing_time_ms integer,
  primary key (id, created_at)
) partition by range (created_at);
create index messages_created_at_idx on messages (created_at);
create table messages_default partition of messages default;
create unique index messages_default_session_seq_key on messages_default (session_id, seq);
create unique index messages_default_session_client_key on messages_default (session_id, client_msg_id);

create table documents (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references users (id) on delete cascade,
  title varchar(255) not null,
  content text,
  metadata jsonb not null default '{}'::jsonb,
  status varchar(20) not null default 'processing' check (status in ('processing', 'ready', 'failed')),
  status_reason text,
  file_path varchar(500),
  file_size bigint,
  mime_type varchar(100),
  chunk_count integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index documents_user_created_idx on documents (user_id, created_at desc, id desc);
create index documents_status_idx on documents (status);

create table document_chunks (
  id uuid primary key default gen_random_uuid(),
  document_id uuid not null references documents (id) on delete cascade,
  content text not null,
  metadata jsonb not null default '{}'::jsonb,
  chunk_index integer not null,
  token_count integer,
  created_at timestamptz not null default now(),
  unique (document_id, chunk_index)
);

create table system_configs (
  id uuid primary key default gen_random_uuid(),
  config_key varchar(100) not null unique,
  config_value jsonb not null,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  updated_by uuid references users (id) on delete set null
);

create table audit_logs (
  id uuid not null default gen_random_uuid(),
  user_id uuid,
  action varchar(100) not null,
  resource_type varchar(50) not null,
  resource_id varchar(255),
  details jsonb not null default '{}'::jsonb,
  ip_address inet,
  user_agent text,
  created_at timestamptz not null default now(),
  primary key (id, created_at)
) partition by range (created_at);
create index audit_logs_user_created_idx on audit_logs (user_id, created_at desc, id desc);
create index audit_logs_action_created_idx on audit_logs (action, created_at desc, id desc);
create index audit_logs_created_idx on audit_logs (created_at desc, id desc);
create table audit_logs_default partition of audit_logs default;
