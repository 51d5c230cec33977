drop function if exists vh_agent_dispatch(text, int);
drop table if exists agent_assignments;
drop table if exists agent_workers;
alter table sessions drop column if exists agent;
delete from schema_functions where name = 'vh_agent_dispatch';
