drop table if exists graph_entities;
