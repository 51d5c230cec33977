drop table if exists user_erasures;
drop table if exists api_keys;
