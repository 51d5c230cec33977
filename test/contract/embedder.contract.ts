import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/errors/app-error.js';
import type { Embedder } from '../../src/stores/embeddings/embedder.js';

/** How an Embedder is created for the contract suite. */
export interface EmbedderSuiteOptions {
  name: string;
  /** An embedder of vectors of `dimension` numbers. */
  create: (dimension: number) => Embedder;
  /**
   * Embedders whose model fails, one for each way it can fail (unreachable, refusing,
   * answering something else than the vectors asked for), by what fails. None for one that
   * cannot fail.
   */
  failing: Record<string, () => Embedder>;
}

const TEXTS = [
  'The assistant answers in a calm voice.',
  '人工智能的应用',
  'Redis keeps the open streams.',
  'ok',
  'PostgreSQL stores every message.',
  'Neo4j holds the knowledge graph.',
  'Milvus finds the nearest chunks.',
];

/** Dimension, order, determinism, the empty list and failures, for every embedder. */
export function embedderContract(options: EmbedderSuiteOptions): void {
  describe(`Embedder contract: ${options.name}`, () => {
    const embedder = options.create(16);

    it('has the dimension it was made with, and every vector has that many finite numbers', async () => {
      expect(embedder.dimension).toBe(16);
      expect(embedder.name).not.toBe('');
      const vectors = await embedder.embed(TEXTS);
      expect(vectors).toHaveLength(TEXTS.length);
      for (const vector of vectors) {
        expect(vector).toHaveLength(16);
        expect(vector.every((x) => typeof x === 'number' && Number.isFinite(x))).toBe(true);
      }
      expect((await options.create(5).embed(['ok']))[0]).toHaveLength(5);
    });

    it('gives one vector per text in input order: each the one the text gets alone', async () => {
      const together = await embedder.embed(TEXTS);
      const alone = await Promise.all(TEXTS.map(async (text) => (await embedder.embed([text]))[0]));
      expect(together).toEqual(alone);
      // Distinct texts, distinct vectors: the comparison above could tell a swap.
      expect(new Set(together.map((v) => JSON.stringify(v))).size).toBe(TEXTS.length);
    });

    it('gives a text the same vector wherever it stands in the list and whenever it is asked', async () => {
      const [first, , again] = await embedder.embed(['same text', 'other text', 'same text']);
      expect(again).toEqual(first);
      expect((await embedder.embed(['other text', 'other text', 'same text']))[2]).toEqual(first);
    });

    it('answers an empty list with an empty list', async () => {
      expect(await embedder.embed([])).toEqual([]);
    });

    for (const [what, failing] of Object.entries(options.failing)) {
      it(`fails with UNAVAILABLE when ${what}`, async () => {
        const error = await failing()
          .embed(['hello'])
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: 'UNAVAILABLE' });
      });
    }
  });
}
