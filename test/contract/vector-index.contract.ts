import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VectorIndex, VectorRecord } from '../../src/stores/vectors/vector-index.js';

/** How one VectorIndex implementation is created for the contract suite. */
export interface VectorIndexSuiteOptions {
  name: string;
  /** A new index of dimension 8 on its own collection (not yet initialised). */
  create: () => Promise<VectorIndex>;
}

const DIM = 8;
const axis = (i: number, scale = 1): number[] => Array.from({ length: DIM }, (_, j) => (j === i ? scale : 0));

function record(ownerId: string, documentId: string, embedding: number[], content = 'chunk'): VectorRecord {
  return { chunkId: randomUUID(), documentId, ownerId, content, embedding, metadata: { page: 1 } };
}

/** The behaviour every vector index must have, run against each implementation. */
export function vectorIndexContract(options: VectorIndexSuiteOptions): void {
  describe(`VectorIndex contract: ${options.name}`, () => {
    let index: VectorIndex;
    const alice = randomUUID();
    const bob = randomUUID();
    const docA = randomUUID();
    const docB = randomUUID();

    beforeAll(async () => {
      index = await options.create();
      await index.init();
      await index.init(); // idempotent
      await index.insert([
        record(alice, docA, axis(0), '人工智能 overview'),
        record(alice, docA, [0.9, 0.1, 0, 0, 0, 0, 0, 0], 'near axis 0'),
        record(alice, docB, axis(1), 'axis 1'),
        record(bob, docA, axis(0, 5), 'bob owns this'),
      ]);
      // The barrier the port defines: searches see the inserts once a count has answered.
      expect(await index.countByDocument(docB)).toBe(1);
    });
    afterAll(async () => {
      await index.drop();
      await index.close();
    });

    it('answers ping and reports its dimension', async () => {
      await index.ping();
      expect(index.dimension).toBe(DIM);
    });

    it("returns the owner's nearest chunks best first, by cosine similarity", async () => {
      const hits = await index.search(axis(0, 3), { topK: 3, ownerId: alice });
      expect(hits.map((h) => h.content)).toEqual(['人工智能 overview', 'near axis 0', 'axis 1']);
      expect(hits[0]?.score).toBeCloseTo(1, 4);
      expect(hits[2]?.score).toBeCloseTo(0, 4);
      expect(hits[0]?.metadata).toEqual({ page: 1 });
      expect(hits.every((h) => h.documentId === docA || h.documentId === docB)).toBe(true);
    });

    it('never returns another owner’s chunks', async () => {
      const hits = await index.search(axis(0), { topK: 10, ownerId: bob });
      expect(hits.map((h) => h.content)).toEqual(['bob owns this']);
    });

    it('filters by document ids, and an empty list matches nothing', async () => {
      const hits = await index.search(axis(0), { topK: 10, ownerId: alice, documentIds: [docB] });
      expect(hits.map((h) => h.content)).toEqual(['axis 1']);
      expect(await index.search(axis(0), { topK: 10, ownerId: alice, documentIds: [] })).toEqual([]);
    });

    it('replaces a record inserted again with the same chunk id', async () => {
      const owner = randomUUID();
      const doc = randomUUID();
      const first = record(owner, doc, axis(2), 'first');
      await index.insert([first]);
      await index.insert([{ ...first, content: 'second', embedding: axis(3) }]);
      expect(await index.countByDocument(doc)).toBe(1);
      const hits = await index.search(axis(3), { topK: 5, ownerId: owner });
      expect(hits.map((h) => [h.chunkId, h.content])).toEqual([[first.chunkId, 'second']]);
    });

    it('counts and deletes every chunk of a document', async () => {
      const owner = randomUUID();
      const doc = randomUUID();
      await index.insert([record(owner, doc, axis(4)), record(owner, doc, axis(5))]);
      expect(await index.countByDocument(doc)).toBe(2);
      expect(await index.search(axis(4), { topK: 5, ownerId: owner })).toHaveLength(2);
      await index.deleteByDocument(doc);
      // No count in between: the delete itself is the barrier.
      expect(await index.search(axis(4), { topK: 5, ownerId: owner })).toHaveLength(0);
      expect(await index.countByDocument(doc)).toBe(0);
      expect(await index.search(axis(4), { topK: 5, ownerId: owner })).toHaveLength(0);
    });

    it.each([
      ['ownerId', `x" || owner_id != "`],
      ['ownerId', 'a b'],
      ['documentId', `"] || chunk_id != ["`],
    ])('refuses a %s that could alter a filter expression (%j) with VALIDATION', async (field, value) => {
      const search =
        field === 'ownerId'
          ? index.search(axis(0), { topK: 1, ownerId: value })
          : index.search(axis(0), { topK: 1, ownerId: alice, documentIds: [value] });
      await expect(search).rejects.toMatchObject({ code: 'VALIDATION' });
      await expect(index.deleteByDocument(value)).rejects.toMatchObject({ code: 'VALIDATION' });
    });

    it("finds a user's few chunks beside another user's 20,000, best first, for any query", async () => {
      // A filter that keeps a tiny share of the collection: Milvus's filtered HNSW search
      // walks the whole graph and, before the adapter read such rows itself, came back short
      // or empty in 29 of 30 of these searches.
      const crowd = randomUUID();
      const few = randomUUID();
      const doc = randomUUID();
      // Deterministic "random" vectors (a linear congruential sequence), all of one crowd.
      let state = 7;
      const next = () => {
        state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
        return state / 2_147_483_648 - 0.5;
      };
      const vector = () => Array.from({ length: DIM }, next);
      for (let batch = 0; batch < 10; batch++)
        await index.insert(Array.from({ length: 2_000 }, () => record(crowd, randomUUID(), vector())));
      const mine = [vector(), vector(), vector()];
      await index.insert(mine.map((embedding, i) => record(few, doc, embedding, `mine ${i}`)));
      expect(await index.countByDocument(doc)).toBe(3);
      for (let query = 0; query < 20; query++) {
        const asked = vector();
        const hits = await index.search(asked, { topK: 2, ownerId: few });
        expect(hits, `query ${query}`).toHaveLength(2);
        expect(hits.every((h) => h.content.startsWith('mine'))).toBe(true);
        expect(hits[0]?.score).toBeGreaterThanOrEqual(hits[1]?.score as number);
        // The best of the three by cosine similarity comes first.
        const cos = (v: number[]) =>
          v.reduce((sum, x, i) => sum + x * (asked[i] as number), 0) /
          Math.sqrt(v.reduce((sum, x) => sum + x * x, 0) * asked.reduce((sum, x) => sum + x * x, 0));
        const best = mine.map((v, i) => ({ i, score: cos(v) })).sort((a, b) => b.score - a.score)[0];
        expect(hits[0]?.content).toBe(`mine ${best?.i}`);
        expect(hits[0]?.score).toBeCloseTo(best?.score as number, 4);
      }
      expect(await index.search(vector(), { topK: 5, ownerId: few, documentIds: [doc] })).toHaveLength(3);
    }, 60_000);

    it('refuses embeddings of the wrong dimension or with non-finite numbers', async () => {
      await expect(index.search([1, 2, 3], { topK: 1, ownerId: alice })).rejects.toMatchObject({ code: 'VALIDATION' });
      const bad = record(alice, docA, [...axis(0).slice(1), Number.NaN]);
      await expect(index.insert([bad])).rejects.toMatchObject({ code: 'VALIDATION' });
    });
  });
}
