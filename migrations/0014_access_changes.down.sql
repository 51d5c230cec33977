drop index if exists api_keys_revoked_idx;
drop index if exists refresh_tokens_family_revoked_idx;
drop index if exists user_erasures_started_idx;
drop index if exists users_updated_idx;
