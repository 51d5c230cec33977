drop table if exists refresh_tokens;
