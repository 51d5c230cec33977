-- Repeatable: applied after the numbered migrations whenever this file changes (see
-- src/stores/postgres/migrator.ts). First defined in 0012_cheaper_appends.sql.

-- A session's updated_at after activity at now(): unchanged within a minute.
create or replace function vh_activity_time(p_updated_at timestamptz) returns timestamptz
language sql stable
as $$ select case when p_updated_at >= now() - interval '1 minute' then p_updated_at else now() end $$;
