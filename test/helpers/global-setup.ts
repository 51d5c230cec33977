import { MilvusVectorIndex } from '../../src/stores/vectors/milvus-vector-index.js';
import { clusterConfig, SUITE_DIMENSIONS } from './env.js';

/**
 * Runs once before the suite's files: creates and loads the Milvus collections the suite's
 * deployments share (`suiteCollection`), so that no file pays for it and no two workers
 * race to create it. Nothing to do without Milvus (a run of unit tests).
 */
export default async function setup(): Promise<void> {
  if (process.env['MILVUS_ADDRESS'] === undefined) return;
  await Promise.all(
    SUITE_DIMENSIONS.map(async (dimension) => {
      const { vector, embeddings } = clusterConfig({ EMBEDDING_DIM: dimension });
      if (vector.mode !== 'milvus') return;
      const index = new MilvusVectorIndex({
        address: vector.address,
        token: vector.token,
        collection: vector.collection,
        dimension: embeddings.dim,
        searchEf: vector.searchEf,
      });
      try {
        await index.init();
      } finally {
        await index.close();
      }
    }),
  );
}
