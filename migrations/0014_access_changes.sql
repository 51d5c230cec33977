-- Every node's privilege sweep reads, every PRIVILEGE_SWEEP_MS, what changed in access
-- since its last read: users whose roles or status changed (their version advanced with
-- updated_at), users being forgotten, refresh families revoked as a whole (a revoked token
-- that was not replaced) and revoked API keys. These indexes keep those reads small.
create index users_updated_idx on users (updated_at);
create index user_erasures_started_idx on user_erasures (started_at);
create index refresh_tokens_family_revoked_idx on refresh_tokens (revoked_at)
  where revoked_at is not null and replaced_by is null;
create index api_keys_revoked_idx on api_keys (revoked_at) where revoked_at is not null;
