-- Every change of a user's roles or status advances the user's version. Cached copies of a
-- user carry the version they were read at, and a node told of a newer version (pub/sub)
-- ignores older copies, so a privilege taken away cannot live on in a cache.
alter table users add column version bigint not null default 1;
