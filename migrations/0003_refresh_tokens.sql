-- Refresh tokens: stored as SHA-256 of their secret part, single use (each refresh
-- replaces the token), grouped in families so that reuse of a replaced token revokes the
-- whole family (a stolen token is then useless to both parties).
create table refresh_tokens (
  id uuid primary key,
  user_id uuid not null references users (id) on delete cascade,
  family_id uuid not null,
  token_hash bytea not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null,
  revoked_at timestamptz,
  replaced_by uuid
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);
create index refresh_tokens_user_idx on refresh_tokens (user_id);
