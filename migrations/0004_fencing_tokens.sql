-- Fencing tokens: the highest token that wrote each lock-guarded resource. A guarded write
-- checks its token here in its own transaction; a holder that paused past its lease
-- presents an older token than the next holder and is refused.
create table fencing_tokens (
  resource varchar(200) primary key,
  token bigint not null,
  updated_at timestamptz not null default now()
);
