/**
 * Knowledge-graph benchmark: `retrieve` latency (embed the question, vector search, graph
 * expansion) p50/p99 at graphDepth 0 to 3 over a graph of 10,000 entities and about
 * 60,000 relations, with depth 0 as the baseline measured in the same run; then the run
 * time of PageRank, Louvain and betweenness. On the embedded graph (PostgreSQL: DATABASE_URL,
 * or an embedded server), and on Neo4j when NEO4J_URI is set (with GDS when it has it, and
 * in process).
 *
 *   npm run bench:graph
 *   NEO4J_URI=bolt://127.0.0.1:7687 npm run bench:graph
 *   BENCH_ENTITIES=2000 BENCH_QUERIES=50 BENCH_DEPTHS=0,2 BENCH_ALGORITHMS=pagerank npm run bench:graph
 */
import { randomUUID } from 'node:crypto';
import { createLogger } from '../src/logger.js';
import type { AlgorithmName } from '../src/services/graph/algorithms.js';
import { GraphService } from '../src/services/graph/graph-service.js';
import { LocalEmbedder } from '../src/stores/embeddings/local-embedder.js';
import { type DocumentGraph, entityId, type GraphStore } from '../src/stores/graph/graph-store.js';
import { Neo4jGraphStore } from '../src/stores/graph/neo4j-graph-store.js';
import { PostgresGraphStore } from '../src/stores/graph/postgres-graph-store.js';
import { AuditLog } from '../src/stores/postgres/repositories/audit.js';
import { MemoryVectorIndex } from '../src/stores/vectors/memory-vector-index.js';
import { benchDatabase } from './database.js';

const ENTITIES = Number(process.env['BENCH_ENTITIES'] ?? 10_000);
const QUERIES = Number(process.env['BENCH_QUERIES'] ?? 200);
const DEPTHS = (process.env['BENCH_DEPTHS'] ?? '0,1,2,3').split(',').map(Number);
const ALGORITHMS = (process.env['BENCH_ALGORITHMS'] ?? 'pagerank,louvain,betweenness')
  .split(',')
  .filter(Boolean) as AlgorithmName[];
/** Each document mentions 10 entities of its own and 2 of other documents; all 12 co-occur. */
const OWN = 10;
const SHARED = 2;
const DIMENSION = 256;
const logger = createLogger({ level: 'warn', nodeId: 'bench' });
const embedder = new LocalEmbedder(DIMENSION);

/** A deterministic pseudo-random generator (the same graph in every store and run). */
function random(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return (x >>> 8) / 16777216;
  };
}

const TOPICS =
  'speech recognition voice session transcript audio assistant latency partition message redis postgres milvus graph entity relation document chunk'.split(
    ' ',
  );

/** Document i: its text (for the vector index) and what it contributes to the graph. */
function document(i: number, ownerId: string): { text: string; graph: DocumentGraph } {
  const next = random(i + 1);
  const own = Array.from({ length: OWN }, (_, j) => (i * OWN + j) % ENTITIES);
  const shared = Array.from({ length: SHARED }, () => Math.floor(next() * ENTITIES));
  const names = [...new Set([...own, ...shared])].map((n) => `Entity ${n}`);
  const ids = names.map((name) => entityId(ownerId, 'NAME', name));
  const cooccurrences: DocumentGraph['cooccurrences'] = [];
  for (let a = 0; a < ids.length; a++) {
    for (let b = a + 1; b < ids.length; b++) {
      const [source, target] = [ids[a] as string, ids[b] as string].sort() as [string, string];
      cooccurrences.push({ source, target, frequency: 1 + Math.floor(next() * 3) });
    }
  }
  const topic = Array.from({ length: 12 }, () => TOPICS[Math.floor(next() * TOPICS.length)]).join(' ');
  return {
    text: `${topic} ${names.join(', ')}`,
    graph: {
      document: { id: `bench-${ownerId}-${i}`, ownerId, title: `document ${i}` },
      entities: names.map((name, j) => ({
        id: ids[j] as string,
        name,
        type: 'NAME',
        confidence: 0.5 + next() / 2,
        position: j * 10,
        context: name,
      })),
      cooccurrences,
    },
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

async function fill(
  graph: GraphStore,
  vectors: MemoryVectorIndex,
  ownerId: string,
  withVectors: boolean,
): Promise<{ seconds: number; relations: number }> {
  const started = performance.now();
  const documents = Math.ceil(ENTITIES / OWN);
  let relations = 0;
  const concurrency = 4;
  for (let i = 0; i < documents; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, documents - i) }, (_, j) => document(i + j, ownerId));
    await Promise.all(batch.map((d) => graph.replaceDocument(d.graph)));
    for (const d of batch) relations += d.graph.cooccurrences.length;
    if (withVectors) {
      const embeddings = await embedder.embed(batch.map((d) => d.text));
      await vectors.insert(
        batch.map((d, j) => ({
          chunkId: randomUUID(),
          documentId: d.graph.document.id,
          ownerId,
          content: d.text,
          embedding: embeddings[j] as number[],
        })),
      );
    }
  }
  return { seconds: (performance.now() - started) / 1000, relations };
}

async function measure(service: GraphService, vectors: MemoryVectorIndex, ownerId: string, depth: number) {
  const total: number[] = [];
  const graphOnly: number[] = [];
  let entities = 0;
  for (let q = 0; q < QUERIES; q++) {
    const question = `${TOPICS[q % TOPICS.length]} Entity ${(q * 7919) % ENTITIES}`;
    const t0 = performance.now();
    const [vector] = await embedder.embed([question]);
    const hits = await vectors.search(vector as number[], { topK: 5, ownerId });
    const t1 = performance.now();
    const found = await service.expandHits(hits, question, depth, 10);
    const t2 = performance.now();
    total.push(t2 - t0);
    graphOnly.push(t2 - t1);
    entities += found.length;
  }
  total.sort((a, b) => a - b);
  graphOnly.sort((a, b) => a - b);
  return {
    p50: percentile(total, 50),
    p99: percentile(total, 99),
    graphP50: percentile(graphOnly, 50),
    graphP99: percentile(graphOnly, 99),
    entities: entities / QUERIES,
  };
}

async function run(label: string, graph: GraphStore, audit: AuditLog, engines: Array<'auto' | 'off'>): Promise<void> {
  await graph.init();
  const ownerId = randomUUID();
  const vectors = new MemoryVectorIndex({ dir: undefined, collection: 'bench', dimension: DIMENSION });
  const filled = await fill(graph, vectors, ownerId, true);
  const projected = await graph.project(ownerId);
  console.log(
    `\n${label}: ${projected.nodes.length} entities, ${projected.edges.length} relations (${filled.relations} co-occurrence writes) loaded in ${filled.seconds.toFixed(1)} s`,
  );
  console.log('graphDepth | retrieve p50 ms  p99 ms | graph part p50 ms  p99 ms | entities/answer | p50 vs depth 0');
  const service = new GraphService({ graph, audit, logger, gds: 'off' });
  let baseline = 0;
  for (const depth of DEPTHS) {
    await measure(service, vectors, ownerId, depth); // warm-up pass, not reported
    const m = await measure(service, vectors, ownerId, depth);
    if (depth === 0) baseline = m.p50;
    console.log(
      `${String(depth).padStart(10)} | ${m.p50.toFixed(2).padStart(15)} ${m.p99.toFixed(2).padStart(7)} | ${m.graphP50.toFixed(2).padStart(17)} ${m.graphP99.toFixed(2).padStart(7)} | ${m.entities.toFixed(1).padStart(15)} | ${(m.p50 / baseline).toFixed(2)}x`,
    );
  }
  const admin = { userId: ownerId, role: 'admin' as const };
  for (const gds of engines) {
    const algorithms = new GraphService({ graph, audit, logger, gds });
    for (const name of ALGORITHMS) {
      const started = performance.now();
      const result = await algorithms.algorithm(admin, name, { ownerId, limit: 10 });
      const extra = result.communityCount === undefined ? '' : `, ${result.communityCount} communities`;
      console.log(
        `${name.padEnd(11)} on ${result.engine.padEnd(10)}: ${((performance.now() - started) / 1000).toFixed(2)} s (computing ${(result.computeMs / 1000).toFixed(2)} s${extra})`,
      );
    }
  }
}

async function main(): Promise<void> {
  console.log(
    `graph benchmark: ${ENTITIES} entities, ${QUERIES} questions per depth, top 5 chunks, 10 entities per answer`,
  );
  const database = await benchDatabase(54392, 8, logger);
  try {
    const audit = new AuditLog(database.pool, logger);
    await run(`embedded graph (PostgreSQL ${database.description})`, new PostgresGraphStore(database.pool), audit, [
      'off',
    ]);
    const uri = process.env['NEO4J_URI'];
    if (uri !== undefined) {
      const neo4j = new Neo4jGraphStore({
        uri,
        user: process.env['NEO4J_USER'] ?? 'neo4j',
        password: process.env['NEO4J_PASSWORD'],
        retryMs: 10_000,
      });
      try {
        await run(`Neo4j at ${uri}`, neo4j, audit, (await neo4j.hasGds()) ? ['auto', 'off'] : ['off']);
      } finally {
        await neo4j.close();
      }
    } else {
      console.log('\n(NEO4J_URI not set: Neo4j not measured)');
    }
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
