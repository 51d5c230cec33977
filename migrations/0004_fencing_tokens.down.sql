drop table if exists fencing_tokens;
