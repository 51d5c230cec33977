import { describe, expect, it } from 'vitest';
import { features, LocalEmbedder } from '../../src/stores/embeddings/local-embedder.js';
import { MemoryVectorIndex } from '../../src/stores/vectors/memory-vector-index.js';

const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] as number), 0);

describe('LocalEmbedder', () => {
  const embedder = new LocalEmbedder(1024);

  it('is deterministic, unit-length and of the configured dimension', async () => {
    const [a, b] = await embedder.embed(['The assistant speaks.', 'The assistant speaks.']);
    expect(a).toEqual(b);
    expect(a).toHaveLength(1024);
    expect(Math.sqrt(cosine(a as number[], a as number[]))).toBeCloseTo(1, 6);
    expect((await new LocalEmbedder(64).embed(['x']))[0]).toHaveLength(64);
    expect((await embedder.embed(['']))[0]?.every((x) => x === 0)).toBe(true);
  });

  it('splits Chinese into characters and bigrams, and words into trigrams', () => {
    const f = features('人工智能 AI');
    expect(f.has('c:人')).toBe(true);
    expect(f.has('b:智能')).toBe(true);
    expect(f.has('w:ai')).toBe(true);
    expect([...features('Learning').keys()]).toContain('t:lea');
  });

  it('puts related texts closer than unrelated ones, in English and in Chinese', async () => {
    const [q1, near1, far1, q2, near2, far2] = await embedder.embed([
      'how do neural networks learn',
      'Neural networks learn by adjusting weights with backpropagation',
      'The recipe needs two eggs and a cup of flour',
      '人工智能的应用',
      '人工智能在医疗中的应用越来越广泛',
      '今天的天气很好，适合去公园散步',
    ]);
    expect(cosine(q1 as number[], near1 as number[])).toBeGreaterThan(cosine(q1 as number[], far1 as number[]) + 0.1);
    expect(cosine(q2 as number[], near2 as number[])).toBeGreaterThan(cosine(q2 as number[], far2 as number[]) + 0.1);
  });

  it('retrieves the right passage of a small corpus with known answers (recall@1 and @3 reported)', async () => {
    const corpus = [
      'Redis pub/sub delivers each message at most once to the current subscribers.',
      'PostgreSQL partitions tables by range, for example one partition per month.',
      'Milvus builds an HNSW index for approximate nearest neighbour search.',
      'Neo4j stores entities as nodes and relations as typed edges.',
      'Socket.IO rooms group the sockets of one conversation.',
      '机器学习是人工智能的一个分支，研究如何从数据中学习。',
      '知识图谱用节点和边表示实体及其关系。',
      'Argon2id is the recommended algorithm for hashing passwords.',
    ];
    const questions: [string, number][] = [
      ['which index does milvus use for nearest neighbour search', 2],
      ['monthly partitions in postgres', 1],
      ['how to hash passwords', 7],
      ['什么是机器学习', 5],
      ['知识图谱如何表示关系', 6],
      ['is redis pub/sub delivery guaranteed', 0],
      ['socket rooms for a conversation', 4],
      ['graph database nodes and edges for entities', 3],
    ];
    const index = new MemoryVectorIndex({ dir: undefined, collection: 'quality', dimension: 1024 });
    const vectors = await embedder.embed(corpus);
    await index.insert(
      corpus.map((content, i) => ({
        chunkId: `c${i}`,
        documentId: 'd',
        ownerId: 'u',
        content,
        embedding: vectors[i] as number[],
      })),
    );
    let top1 = 0;
    let top3 = 0;
    for (const [question, answer] of questions) {
      const [vector] = await embedder.embed([question]);
      const hits = await index.search(vector as number[], { topK: 3, ownerId: 'u' });
      if (hits[0]?.chunkId === `c${answer}`) top1++;
      if (hits.some((h) => h.chunkId === `c${answer}`)) top3++;
    }
    console.log(
      `local embedder on the test corpus: recall@1 ${top1}/${questions.length}, recall@3 ${top3}/${questions.length}`,
    );
    expect(top3).toBe(questions.length);
    expect(top1).toBeGreaterThanOrEqual(questions.length - 1);
  });
});
