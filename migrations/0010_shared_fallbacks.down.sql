drop table if exists cluster_markers;
drop table if exists vector_changes;
drop table if exists vector_chunks;
