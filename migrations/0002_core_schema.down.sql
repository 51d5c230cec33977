drop table if exists audit_logs;
drop table if exists system_configs;
drop table if exists document_chunks;
drop table if exists documents;
drop table if exists messages;
drop table if exists sessions;
drop table if exists user_roles;
drop table if exists users;
