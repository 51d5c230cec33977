import type pg from 'pg';
import type { Config } from '../../config/config.js';
import type { GraphStore } from './graph-store.js';
import { Neo4jGraphStore } from './neo4j-graph-store.js';
import { PostgresGraphStore } from './postgres-graph-store.js';

/** The graph store the configuration names (Neo4j, or tables in PostgreSQL); not yet initialised. */
export function openGraphStore(config: Config, deps: { pool: pg.Pool }): GraphStore {
  return config.graph.mode === 'neo4j' ? new Neo4jGraphStore(config.graph) : new PostgresGraphStore(deps.pool);
}
