import type pg from 'pg';
import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { PubSub } from '../pubsub/pubsub.js';
import { MilvusVectorIndex } from './milvus-vector-index.js';
import { PostgresVectorIndex } from './postgres-vector-index.js';
import type { VectorIndex } from './vector-index.js';

/** Chunk vectors: in Milvus, or in a PostgreSQL table every node searches in memory; not yet initialised. */
export function openVectorIndex(config: Config, deps: { pool: pg.Pool; pubsub: PubSub; logger: Logger }): VectorIndex {
  const { vector, embeddings } = config;
  return vector.mode === 'milvus'
    ? new MilvusVectorIndex({
        address: vector.address,
        token: vector.token,
        collection: vector.collection,
        dimension: embeddings.dim,
        searchEf: vector.searchEf,
      })
    : new PostgresVectorIndex(deps.pool, deps.pubsub, deps.logger, {
        collection: vector.collection,
        dimension: embeddings.dim,
        legacySnapshotDir: vector.legacyDir,
      });
}
