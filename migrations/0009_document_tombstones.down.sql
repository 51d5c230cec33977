drop index if exists documents_status_updated_idx;
delete from documents where status = 'deleting';
alter table documents drop constraint documents_status_check;
alter table documents add constraint documents_status_check check (status in ('processing', 'ready', 'failed'));
