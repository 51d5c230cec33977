/**
 * Retrieval benchmark: ingestion (embed + index) chunks per second, and `retrieve` latency
 * (embed the query + vector search, owner-filtered, top 5) p50/p99 at 10,000 and 100,000
 * chunks on the embedded index, and on Milvus when MILVUS_ADDRESS is set, with recall@5
 * of Milvus against exact search measured in the same run. For Milvus it also reports the
 * index build (flush, wait until every row is in the HNSW index, release and load again, so
 * that searches use the built index rather than growing segments) and the memory its
 * query node reports, and searches through the server's adapter (Bounded, ef 64).
 *
 *   npm run bench:retrieve
 *   MILVUS_ADDRESS=127.0.0.1:19530 BENCH_SIZES=10000 npm run bench:retrieve
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { MilvusClient } from '@zilliz/milvus2-sdk-node';
import { loadConfig } from '../src/config/load.js';
import { LocalEmbedder } from '../src/stores/embeddings/local-embedder.js';
import { MemoryVectorIndex } from '../src/stores/vectors/memory-vector-index.js';
import { MilvusVectorIndex } from '../src/stores/vectors/milvus-vector-index.js';
import type { VectorIndex, VectorRecord } from '../src/stores/vectors/vector-index.js';

const sizes = (process.env['BENCH_SIZES'] ?? '10000,100000').split(',').map(Number);
const dimension = Number(process.env['BENCH_DIM'] ?? 256);
const queries = Number(process.env['BENCH_QUERIES'] ?? 200);
const efs = (process.env['BENCH_EF'] ?? '64,256').split(',').map(Number);
/**
 * `text` (default): chunks and questions embedded by the local embedder (hashed words, a hard
 * case for approximate search: similarities are nearly flat). `clustered`: vectors around
 * 1,000 topic centres, as real embedding models give (the retrieval time then has no
 * embedding in it).
 */
const data = process.env['BENCH_DATA'] ?? 'text';
const embedder = new LocalEmbedder(dimension);

const WORDS = (
  'voice session transcript audio assistant model speech recognition synthesis latency partition message ' +
  'redis postgres milvus graph entity relation document chunk embedding vector search index cluster node ' +
  'lock limit window token user service admin stream delta turn interrupted order sequence gap recovery ' +
  '人工智能 机器学习 语音 识别 合成 会话 消息 文档 向量 检索 知识 图谱 实体 关系 节点'
).split(' ');

/** A deterministic pseudo-random text of ~40 words (Zipf-like word choice). */
function text(seed: number): string {
  let x = (seed * 2654435761) >>> 0;
  const words: string[] = [];
  for (let i = 0; i < 40; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const r = (x >>> 8) / 16777216;
    words.push(WORDS[Math.floor(WORDS.length * r * r)] as string, `w${(x >>> 4) % 5000}`);
  }
  return words.join(' ');
}

/** A deterministic generator of normal deviates (xorshift and Box-Muller). */
function gaussians(seed: number): () => number {
  let x = (seed * 2654435761) >>> 0 || 1;
  const uniform = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return ((x >>> 0) + 1) / 4294967297;
  };
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

const CENTRES = 1_000;
const centres: number[][] = [];

/** Vector `seed` of the clustered set: a topic centre plus noise, normalised. */
function clustered(seed: number): number[] {
  const normal = gaussians(seed + 7);
  if (centres.length === 0) {
    const centreNormal = gaussians(1);
    for (let c = 0; c < CENTRES; c++) centres.push(Array.from({ length: dimension }, centreNormal));
  }
  const centre = centres[seed % CENTRES] as number[];
  const v = centre.map((x) => x + 0.5 * normal());
  const norm = Math.hypot(...v);
  return v.map((x) => x / norm);
}

/** Contents and embeddings of chunks `from` .. `from + count - 1`. */
async function chunks(from: number, count: number): Promise<{ content: string; embedding: number[] }[]> {
  if (data === 'clustered')
    return Array.from({ length: count }, (_, j) => ({ content: `chunk ${from + j}`, embedding: clustered(from + j) }));
  const texts = Array.from({ length: count }, (_, j) => text(from + j));
  const vectors = await embedder.embed(texts);
  return texts.map((content, j) => ({ content, embedding: vectors[j] as number[] }));
}

/** The embedding of question `q` (embedding it is part of the measured retrieve). */
async function question(q: number): Promise<number[]> {
  if (data === 'clustered') return clustered(1_000_000_007 + q * 7919);
  const [vector] = await embedder.embed([
    text(1_000_000 + q)
      .split(' ')
      .slice(0, 12)
      .join(' '),
  ]);
  return vector as number[];
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

async function fill(index: VectorIndex, size: number, ownerId: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < size; i += 2_000) {
    const batch = await chunks(i, Math.min(2_000, size - i));
    const documentId = randomUUID();
    const records: VectorRecord[] = batch.map(({ content, embedding }) => ({
      chunkId: randomUUID(),
      documentId,
      ownerId,
      content,
      embedding,
    }));
    await index.insert(records);
  }
  return size / ((performance.now() - started) / 1000);
}

interface Measured {
  p50: number;
  p99: number;
  /** Per query, the hits as content and score. */
  results: { content: string; score: number }[][];
}

async function latency(index: VectorIndex, ownerId: string): Promise<Measured> {
  const times: number[] = [];
  const results: Measured['results'] = [];
  for (let q = 0; q < queries; q++) {
    const t0 = performance.now();
    const hits = await index.search(await question(q), { topK: 5, ownerId });
    times.push(performance.now() - t0);
    results.push(hits.map((h) => ({ content: h.content, score: h.score })));
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), results };
}

/**
 * The share of the exact top 5 that the approximate search returned. A hit with the same
 * similarity as the exact 5th (a tie, within float error) counts as found: which of several
 * equally near chunks comes back is not a miss.
 */
function recallAt5(got: Measured['results'], exact: Measured['results']): number {
  let found = 0;
  got.forEach((hits, q) => {
    const want = exact[q] ?? [];
    const contents = new Set(want.map((h) => h.content));
    const fifth = want[want.length - 1]?.score ?? Number.POSITIVE_INFINITY;
    found += Math.min(want.length, hits.filter((h) => contents.has(h.content) || h.score >= fifth - 1e-5).length);
  });
  return found / exact.reduce((sum, want) => sum + want.length, 0);
}

/**
 * Seals what was inserted, waits until the HNSW index covers every row, then releases and
 * loads the collection so the query node serves the built index. Returns the seconds taken.
 */
async function buildIndex(admin: MilvusClient, collection: string, rows: number): Promise<number> {
  const started = performance.now();
  await admin.flushSync({ collection_names: [collection] });
  for (;;) {
    const progress = await admin.getIndexBuildProgress({ collection_name: collection, field_name: 'embedding' });
    if (Number(progress.total_rows) >= rows && Number(progress.indexed_rows) >= Number(progress.total_rows)) break;
    await sleep(500);
  }
  await admin.releaseCollection({ collection_name: collection });
  await admin.loadCollectionSync({ collection_name: collection });
  return (performance.now() - started) / 1000;
}

/**
 * Memory in use on the Milvus query node(s), in MiB, as its system_info metrics report it
 * (on a standalone, the whole process: every component shares it).
 */
async function queryNodeMemory(admin: MilvusClient): Promise<string> {
  const metric = await admin.getMetric({ request: { metric_type: 'system_info' } });
  // The SDK hands over the parsed topology, typed as the JSON string it came as.
  const response: unknown = metric.response;
  const topology = (typeof response === 'string' ? JSON.parse(response) : response) as {
    nodes_info?: { infos?: { name?: string; hardware_infos?: { memory_usage?: number } } }[];
  };
  const used = (topology.nodes_info ?? [])
    .filter((n) => n.infos?.name?.startsWith('querynode') === true)
    .reduce((sum, n) => sum + (n.infos?.hardware_infos?.memory_usage ?? 0), 0);
  return used === 0 ? 'n/a' : (used / 2 ** 20).toFixed(0);
}

async function main(): Promise<void> {
  console.log(
    `retrieve benchmark: dimension ${dimension}, ${queries} queries per size, ${data === 'clustered' ? 'clustered vectors (1,000 centres)' : 'texts through the local embedder'}`,
  );
  console.log('index       chunks | ingest chunks/s | retrieve p50 ms  p99 ms | recall@5 vs exact');
  for (const size of sizes) {
    const ownerId = randomUUID();
    const exact = new MemoryVectorIndex({ dir: undefined, collection: 'bench', dimension });
    const ingest = await fill(exact, size, ownerId);
    const memory = await latency(exact, ownerId);
    console.log(
      `embedded ${String(size).padStart(9)} | ${ingest.toFixed(0).padStart(15)} | ${memory.p50.toFixed(2).padStart(15)} ${memory.p99.toFixed(2).padStart(7)} | 1.000 (exact search)`,
    );
    const address = process.env['MILVUS_ADDRESS'];
    if (address !== undefined) {
      const collection = `bench_${size}_${Date.now()}`;
      const milvus = new MilvusVectorIndex({
        address,
        token: undefined,
        collection,
        dimension,
        searchEf: defaultSearchEf(address),
      });
      const admin = new MilvusClient({ address, logLevel: 'warn' });
      await milvus.init();
      const searchers: MilvusVectorIndex[] = [];
      try {
        const milvusIngest = await fill(milvus, size, ownerId);
        const build = await buildIndex(admin, collection, size);
        for (const ef of efs) {
          const searcher = new MilvusVectorIndex({ address, token: undefined, collection, dimension, searchEf: ef });
          searchers.push(searcher);
          const measured = await latency(searcher, ownerId);
          const recall = recallAt5(measured.results, memory.results);
          console.log(
            `milvus   ${String(size).padStart(9)} | ${milvusIngest.toFixed(0).padStart(15)} | ${measured.p50.toFixed(2).padStart(15)} ${measured.p99.toFixed(2).padStart(7)} | ${recall.toFixed(3)}` +
              ` (ef ${ef}; index built in ${build.toFixed(1)} s; Milvus ${await queryNodeMemory(admin)} MiB)`,
          );
        }
      } finally {
        await milvus.drop();
        await Promise.all([milvus, ...searchers].map((index) => index.close()));
        await admin.closeConnection();
      }
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/** MILVUS_SEARCH_EF's default, as a node would have it. */
function defaultSearchEf(address: string): number {
  const vector = loadConfig({ MILVUS_ADDRESS: address }).vector;
  if (vector.mode !== 'milvus') throw new Error('MILVUS_ADDRESS is set, so the vector index is Milvus');
  return vector.searchEf;
}
