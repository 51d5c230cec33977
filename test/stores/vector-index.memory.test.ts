import { describe, expect, it } from 'vitest';
import { MemoryVectorIndex } from '../../src/stores/vectors/memory-vector-index.js';
import { vectorIndexContract } from '../contract/vector-index.contract.js';
import { tempDir } from '../helpers/env.js';

vectorIndexContract({
  name: 'embedded: in process',
  create: async () => new MemoryVectorIndex({ dir: tempDir(), collection: 'chunks', dimension: 8 }),
});

describe('MemoryVectorIndex persistence', () => {
  const record = { chunkId: 'c1', documentId: 'd1', ownerId: 'u1', content: 'kept', embedding: [1, 0, 0, 0] };

  it('reloads what was saved under its directory', async () => {
    const dir = tempDir();
    const first = new MemoryVectorIndex({ dir, collection: 'chunks', dimension: 4 });
    await first.init();
    await first.insert([record]);
    await first.close();
    const second = new MemoryVectorIndex({ dir, collection: 'chunks', dimension: 4 });
    await second.init();
    const hits = await second.search([1, 0, 0, 0], { topK: 1, ownerId: 'u1' });
    expect(hits.map((h) => h.content)).toEqual(['kept']);
  });

  it('refuses to open a snapshot of another dimension', async () => {
    const dir = tempDir();
    const first = new MemoryVectorIndex({ dir, collection: 'chunks', dimension: 4 });
    await first.init();
    await first.insert([record]);
    await first.close();
    const other = new MemoryVectorIndex({ dir, collection: 'chunks', dimension: 8 });
    await expect(other.init()).rejects.toThrow(/dimension 4/);
  });
});
