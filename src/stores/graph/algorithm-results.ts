import type { EntityRef } from './entity-ref.js';

/** Graph algorithms and what they answer, the same whichever engine runs them (in process or Neo4j GDS). */
export const algorithmNames = ['pagerank', 'louvain', 'betweenness'] as const;
export type AlgorithmName = (typeof algorithmNames)[number];

/** One entity in an algorithm's answer: a score (centralities) or a community (Louvain). */
export interface AlgorithmRow extends EntityRef {
  score?: number;
  community?: number;
}

/** What `POST /v1/graph/algorithms/:name` answers. */
export interface AlgorithmResult {
  algorithm: AlgorithmName;
  /** `gds` (Neo4j Graph Data Science) or `graphology` (in process over the projected graph). */
  engine: 'gds' | 'graphology';
  nodeCount: number;
  relationshipCount: number;
  /** Best first (highest score; for Louvain, largest community first). */
  results: AlgorithmRow[];
  /** Louvain: number of communities and the modularity of the partition. */
  communityCount?: number;
  modularity?: number;
  computeMs: number;
}

/** The same parameters for both engines: PageRank damping and convergence. */
export const PAGERANK = { dampingFactor: 0.85, maxIterations: 100, tolerance: 1e-6 } as const;

/** Highest score first, ties by name and id; scores rounded to 9 decimals. */
export function rankScores(rows: AlgorithmRow[], limit: number): AlgorithmRow[] {
  return rows
    .map((r) => ({ ...r, score: Math.round((r.score ?? 0) * 1e9) / 1e9 }))
    .sort((a, b) => b.score - a.score || (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1))
    .slice(0, limit);
}

/**
 * Communities renumbered from 0, largest first (ties: the community whose smallest member id
 * sorts first), so that two engines or two runs that find the same partition answer alike.
 */
export function rankCommunities(rows: AlgorithmRow[]): AlgorithmRow[] {
  const members = new Map<number, AlgorithmRow[]>();
  for (const row of rows) members.set(row.community as number, [...(members.get(row.community as number) ?? []), row]);
  const ordered = [...members.values()]
    .map((group) => group.sort((a, b) => (a.id < b.id ? -1 : 1)))
    .sort((a, b) => b.length - a.length || ((a[0] as AlgorithmRow).id < (b[0] as AlgorithmRow).id ? -1 : 1));
  return ordered.flatMap((group, community) => group.map((row) => ({ ...row, community })));
}
