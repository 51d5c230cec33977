/**
 * Retrieval benchmark: ingestion (embed + index) chunks per second, and `retrieve` latency
 * (embed the query + vector search, owner-filtered, top 5) p50/p99 at 10,000 and 100,000
 * chunks on the embedded index, and on Milvus when MILVUS_ADDRESS is set, with recall@5
 * of Milvus against exact search measured in the same run.
 *
 *   npm run bench:retrieve
 *   MILVUS_ADDRESS=127.0.0.1:19530 BENCH_SIZES=10000 npm run bench:retrieve
 */
import { randomUUID } from 'node:crypto';
import { LocalEmbedder } from '../src/stores/embeddings/local-embedder.js';
import { MemoryVectorIndex } from '../src/stores/vector/memory-vector-index.js';
import { MilvusVectorIndex } from '../src/stores/vector/milvus-vector-index.js';
import type { VectorIndex, VectorRecord } from '../src/stores/vector/vector-index.js';

const sizes = (process.env['BENCH_SIZES'] ?? '10000,100000').split(',').map(Number);
const dimension = Number(process.env['BENCH_DIM'] ?? 256);
const queries = Number(process.env['BENCH_QUERIES'] ?? 200);
const embedder = new LocalEmbedder(dimension);

const WORDS = (
  'voice session transcript audio assistant model speech recognition synthesis latency partition message ' +
  'redis postgres milvus graph entity relation document chunk embedding vector search index cluster node ' +
  'lock limit window token user service admin stream delta turn interrupted order sequence gap recovery ' +
  '人工智能 机器学习 语音 识别 合成 会话 消息 文档 向量 检索 知识 图谱 实体 关系 节点'
).split(' ');

/** A deterministic pseudo-random text of ~40 words (Zipf-like word choice). */
function text(seed: number): string {
  let x = seed * 2654435761 >>> 0;
  const words: string[] = [];
  for (let i = 0; i < 40; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = (x >>> 8) / 16777216;
    words.push(WORDS[Math.floor(WORDS.length * r * r)] as string, `w${(x >>> 4) % 5000}`);
  }
  return words.join(' ');
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

async function fill(index: VectorIndex, size: number, ownerId: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < size; i += 2_000) {
    const texts = Array.from({ length: Math.min(2_000, size - i) }, (_, j) => text(i + j));
    const vectors = await embedder.embed(texts);
    const documentId = randomUUID();
    const records: VectorRecord[] = texts.map((content, j) => ({ chunkId: randomUUID(), documentId, ownerId, content, embedding: vectors[j] as number[] }));
    await index.insert(records);
  }
  return size / ((performance.now() - started) / 1000);
}

async function latency(index: VectorIndex, ownerId: string): Promise<{ p50: number; p99: number; results: string[][] }> {
  const times: number[] = [];
  const results: string[][] = [];
  for (let q = 0; q < queries; q++) {
    const t0 = performance.now();
    const [vector] = await embedder.embed([text(1_000_000 + q).split(' ').slice(0, 12).join(' ')]);
    const hits = await index.search(vector as number[], { topK: 5, ownerId });
    times.push(performance.now() - t0);
    results.push(hits.map((h) => h.content));
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), results };
}

async function main(): Promise<void> {
  console.log(`retrieve benchmark: dimension ${dimension}, ${queries} queries per size, local embedder`);
  console.log('index       chunks | ingest chunks/s | retrieve p50 ms  p99 ms | recall@5 vs exact');
  for (const size of sizes) {
    const ownerId = randomUUID();
    const exact = new MemoryVectorIndex({ dir: undefined, collection: 'bench', dimension });
    const ingest = await fill(exact, size, ownerId);
    const memory = await latency(exact, ownerId);
    console.log(`embedded ${String(size).padStart(9)} | ${ingest.toFixed(0).padStart(15)} | ${memory.p50.toFixed(2).padStart(15)} ${memory.p99.toFixed(2).padStart(7)} | 1.000 (exact search)`);
    const address = process.env['MILVUS_ADDRESS'];
    if (address !== undefined) {
      const milvus = new MilvusVectorIndex({ address, token: undefined, collection: `bench_${size}_${Date.now()}`, dimension });
      await milvus.init();
      try {
        const milvusIngest = await fill(milvus, size, ownerId);
        const measured = await latency(milvus, ownerId);
        let found = 0;
        measured.results.forEach((got, q) => {
          const want = new Set(memory.results[q]);
          found += got.filter((c) => want.has(c)).length;
        });
        const recall = found / (queries * 5);
        console.log(`milvus   ${String(size).padStart(9)} | ${milvusIngest.toFixed(0).padStart(15)} | ${measured.p50.toFixed(2).padStart(15)} ${measured.p99.toFixed(2).padStart(7)} | ${recall.toFixed(3)}`);
      } finally {
        await milvus.drop();
        await milvus.close();
      }
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
