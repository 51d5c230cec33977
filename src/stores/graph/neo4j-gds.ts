import { randomUUID } from 'node:crypto';
import neo4j, { type Record as Neo4jRecord } from 'neo4j-driver';
import { elapsedMs } from '../../util/numbers.js';
import {
  type AlgorithmName,
  type AlgorithmResult,
  type AlgorithmRow,
  PAGERANK,
  rankCommunities,
  rankScores,
} from './algorithm-results.js';
import type { EntityRef } from './entity-ref.js';

/**
 * What the algorithms need of the Neo4j store: one auto-commit Cypher run. Declared here, so
 * that this module depends on a capability rather than on the store that calls it.
 */
export interface CypherRunner {
  run(mode: 'read' | 'write', cypher: string, params?: Record<string, unknown>): Promise<Neo4jRecord[]>;
}

/** The procedure of each algorithm and what it yields. */
const PROCEDURES: Record<AlgorithmName, string> = {
  pagerank: `CALL gds.pageRank.stream($graph, {relationshipWeightProperty: 'weight', dampingFactor: $damping,
               maxIterations: $iterations, tolerance: $tolerance}) YIELD nodeId, score`,
  // Written into the projection, which yields the modularity too, then read back.
  louvain: `CALL gds.louvain.mutate($graph, {relationshipWeightProperty: 'weight', mutateProperty: 'community'})
              YIELD modularity
            CALL gds.graph.nodeProperty.stream($graph, 'community') YIELD nodeId, propertyValue
            WITH nodeId, propertyValue AS communityId, modularity`,
  betweenness: 'CALL gds.betweenness.stream($graph) YIELD nodeId, score',
};

/**
 * Runs an algorithm with Neo4j's Graph Data Science plugin. The server projects the entity
 * graph (one owner's or all) into a named in-memory graph of its own, undirected with the
 * relation weights, runs the procedure in stream mode and drops the projection, also when
 * the run fails. PageRank scores are scaled to sum to 1, as the in-process engine's do.
 */
export async function runWithGds(
  store: CypherRunner,
  name: AlgorithmName,
  options: { ownerId?: string | undefined; limit: number },
): Promise<AlgorithmResult> {
  const started = performance.now();
  await dropStaleProjections(store, STALE_PROJECTION_MS);
  const graph = `${PROJECTION_PREFIX}${randomUUID()}`;
  const projected = await store.run(
    'write',
    `MATCH (a:Entity) WHERE $ownerId IS NULL OR a.ownerId = $ownerId
     OPTIONAL MATCH (a)-[r:RELATED_TO|CO_OCCURS]->(b:Entity)
     WITH gds.graph.project($graph, a, b, {relationshipProperties: {weight: coalesce(r.weight, 1.0)}},
                            {undirectedRelationshipTypes: ['*']}) AS g
     RETURN g.nodeCount AS nodes, g.relationshipCount AS relationships`,
    { graph, ownerId: options.ownerId ?? null },
  );
  try {
    const records = await store.run(
      'write',
      `${PROCEDURES[name]}
       WITH gds.util.asNode(nodeId) AS n, ${name === 'louvain' ? 'communityId' : 'score'} AS value${name === 'louvain' ? ', modularity' : ''}
       RETURN n.id AS id, n.name AS name, n.type AS type, value${name === 'louvain' ? ', modularity' : ''}`,
      {
        graph,
        damping: PAGERANK.dampingFactor,
        iterations: neo4j.int(PAGERANK.maxIterations),
        tolerance: PAGERANK.tolerance,
      },
    );
    const rows = records.map((r) => ({
      id: r.get('id') as string,
      name: r.get('name') as string,
      type: r.get('type') as string,
      value: Number(r.get('value')),
    }));
    const base = {
      algorithm: name,
      engine: 'gds' as const,
      nodeCount: Number(projected[0]?.get('nodes') ?? 0),
      // Undirected projections hold each relation once per direction.
      relationshipCount: Number(projected[0]?.get('relationships') ?? 0) / 2,
    };
    const toRow = (
      { value, ...ref }: EntityRef & { value: number },
      key: 'score' | 'community',
      scale = 1,
    ): AlgorithmRow => ({ ...ref, [key]: value * scale });
    if (name === 'louvain') {
      const results = rankCommunities(rows.map((r) => toRow(r, 'community')));
      const communityCount = new Set(results.map((r) => r.community)).size;
      const modularity = Number(records[0]?.get('modularity') ?? 0);
      return {
        ...base,
        results: results.slice(0, options.limit),
        communityCount,
        modularity,
        computeMs: elapsedMs(started),
      };
    }
    const total = rows.reduce((sum, r) => sum + r.value, 0);
    const scale = name === 'pagerank' && total > 0 ? 1 / total : 1;
    return {
      ...base,
      results: rankScores(
        rows.map((r) => toRow(r, 'score', scale)),
        options.limit,
      ),
      computeMs: elapsedMs(started),
    };
  } finally {
    await store
      .run('write', 'CALL gds.graph.drop($graph, false) YIELD graphName RETURN graphName', { graph })
      .catch(() => undefined);
  }
}

const PROJECTION_PREFIX = 'voicehelper-';
/** A projection of ours this old was left by a node that died during a run. */
const STALE_PROJECTION_MS = 60 * 60_000;

/**
 * Drops this server's projections older than `olderThanMs`: a node that dies between
 * projecting and dropping leaves its projection in the GDS catalog (server memory) until
 * Neo4j restarts; the next run on any node clears it. Returns how many were dropped.
 * (`prefix` narrows it further, for tests that share the server with running algorithms.)
 */
export async function dropStaleProjections(
  store: CypherRunner,
  olderThanMs: number,
  prefix = PROJECTION_PREFIX,
): Promise<number> {
  const records = await store.run(
    'write',
    `CALL gds.graph.list() YIELD graphName, creationTime
     WITH graphName WHERE graphName STARTS WITH $prefix AND creationTime < datetime() - duration({milliseconds: $olderThanMs})
     CALL gds.graph.drop(graphName, false) YIELD graphName AS dropped
     RETURN count(dropped) AS dropped`,
    { prefix, olderThanMs: neo4j.int(olderThanMs) },
  );
  return Number(records[0]?.get('dropped') ?? 0);
}
