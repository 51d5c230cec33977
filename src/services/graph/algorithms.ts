import { Worker } from 'node:worker_threads';
import { UndirectedGraph } from 'graphology';
import louvainModule from 'graphology-communities-louvain';
import betweennessModule from 'graphology-metrics/centrality/betweenness.js';
import pagerankModule from 'graphology-metrics/centrality/pagerank.js';
import {
  type AlgorithmName,
  type AlgorithmResult,
  PAGERANK,
  rankCommunities,
  rankScores,
} from '../../stores/graph/algorithm-results.js';
import type { EntityRef, ProjectedGraph } from '../../stores/graph/graph-store.js';
import { elapsedMs } from '../../util/numbers.js';
import { compiledWorker } from '../../util/workers.js';

export { type AlgorithmName, type AlgorithmResult, algorithmNames } from '../../stores/graph/algorithm-results.js';

// CommonJS interop: at run time each default import is the function that the packages'
// type declarations describe as `default` of the module.
const louvain = louvainModule as unknown as typeof louvainModule.default;
const betweenness = betweennessModule as unknown as typeof betweennessModule.default;
const pagerank = pagerankModule as unknown as typeof pagerankModule.default;

/** Louvain's seed, so that runs repeat. */
const LOUVAIN_SEED = 42;

/**
 * Runs an algorithm in process with graphology. The projected graph is undirected;
 * parallel relations between two entities add up into one weighted edge. PageRank and
 * Louvain use the weights, betweenness counts hops (unnormalised: the number of shortest
 * paths between other entities that pass through, split between equal paths). PageRank
 * scores sum to 1.
 */
export function runInProcess(name: AlgorithmName, projected: ProjectedGraph, limit: number): AlgorithmResult {
  const started = performance.now();
  const graph = new UndirectedGraph<Record<string, never>, { weight: number }>();
  const refs = new Map(projected.nodes.map((n) => [n.id, n]));
  for (const node of projected.nodes) graph.addNode(node.id);
  for (const { source, target, weight } of projected.edges) {
    if (source === target || !graph.hasNode(source) || !graph.hasNode(target)) continue;
    graph.updateEdge(source, target, (attributes) => ({ weight: (attributes.weight ?? 0) + weight }));
  }
  const base = {
    algorithm: name,
    engine: 'graphology' as const,
    nodeCount: graph.order,
    relationshipCount: projected.edges.length,
  };
  if (name === 'louvain') {
    const detailed = louvain.detailed(graph, { getEdgeWeight: 'weight', rng: seededRandom(LOUVAIN_SEED) });
    const rows = rankCommunities(
      Object.entries(detailed.communities).map(([id, community]) => ({ ...(refs.get(id) as EntityRef), community })),
    );
    return {
      ...base,
      results: rows.slice(0, limit),
      communityCount: detailed.count,
      modularity: detailed.modularity,
      computeMs: elapsedMs(started),
    };
  }
  const scores =
    name === 'pagerank'
      ? pagerank(graph, {
          getEdgeWeight: 'weight',
          alpha: PAGERANK.dampingFactor,
          maxIterations: PAGERANK.maxIterations,
          tolerance: PAGERANK.tolerance,
        })
      : betweenness(graph, { getEdgeWeight: null, normalized: false });
  return {
    ...base,
    results: rankScores(
      Object.entries(scores).map(([id, score]) => ({ ...(refs.get(id) as EntityRef), score })),
      limit,
    ),
    computeMs: elapsedMs(started),
  };
}

/**
 * `runInProcess` on a worker thread: betweenness over 10,000 entities takes tens of seconds,
 * which must not stall the node's sockets. One worker per run, ended with it.
 */
export function runInWorker(name: AlgorithmName, projected: ProjectedGraph, limit: number): Promise<AlgorithmResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(compiledWorker(import.meta.url, 'algorithm-worker.js'), {
      workerData: { name, projected, limit },
    });
    worker.once('message', (result: AlgorithmResult) => {
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the algorithm worker exited with code ${code}`)));
  });
}

/** mulberry32: Louvain visits nodes in random order; a fixed seed makes runs repeatable. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
