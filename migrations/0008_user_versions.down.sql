alter table users drop column version;
