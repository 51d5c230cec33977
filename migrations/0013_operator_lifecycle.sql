-- Service-account credentials and the forget-user ledger (issue 15).
--
-- API keys are `vhk_<id>.<secret>`; only the SHA-256 of the 32-byte random secret is kept
-- (a fast hash is enough for a secret of that entropy, as for refresh tokens). An access
-- token exchanged for a key names the key as its family, so revoking the key ends those
-- tokens and the sockets they opened at once.
create table api_keys (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  name varchar(100) not null,
  key_hash bytea not null,
  created_at timestamptz not null default now(),
  created_by uuid references users (id) on delete set null,
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_user_idx on api_keys (user_id);

-- One row per forget-user run: the steps done so far, so that a run that crashed goes on
-- where it stopped. Kept after completion as the record that the user was forgotten (no
-- personal data: the id and counts only).
create table user_erasures (
  user_id uuid primary key,
  requested_by uuid,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  steps jsonb not null default '{}'::jsonb
);
