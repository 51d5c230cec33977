import { createHash } from 'node:crypto';
import { MAX_GRAPH_DEPTH, MAX_PATH_HOPS, relationTypes } from '../../../protocol/models.js';
import { AppError } from '../../errors/app-error.js';
import type { AlgorithmName, AlgorithmResult } from './algorithm-results.js';
import type { EntityRef } from './entity-ref.js';

// The wire limits and relation types are the protocol's; stores check them again.
export { MAX_GRAPH_DEPTH, MAX_PATH_HOPS, relationTypes };
export type RelationType = (typeof relationTypes)[number];
export type { EntityRef };

/** An entity of the knowledge graph (a `:Entity` node in Neo4j). */
export interface GraphEntity {
  /** `entityId(ownerId, type, name)` for extracted and hand-added entities alike. */
  id: string;
  /** The user whose documents (or API calls) produced it; relations never cross owners. */
  ownerId: string;
  name: string;
  /** Kind of entity, for example `CONCEPT`, `NAME`. */
  type: string;
  description: string;
  /** Extra attributes (stored as JSON). */
  properties: Record<string, unknown>;
  /** Added by hand: kept when no document mentions it any more. */
  manual: boolean;
}

/** A relationship between two entities. CO_OCCURS keeps its strength in `weight`. */
export interface GraphRelation {
  id: string;
  source: string;
  target: string;
  relationType: RelationType;
  /** Free-text kind of a RELATED_TO (for example `概念关联`); empty for CO_OCCURS. */
  type: string;
  /**
   * 0..1; relevance multiplies the weights along a path. For CO_OCCURS it is the strength,
   * frequency / (frequency + 1) (1 → 0.5, 3 → 0.75, 9 → 0.9), computed by each store.
   */
  weight: number;
  /** CO_OCCURS only: chunks in which both appear, over all documents. */
  frequency: number;
  /** CO_OCCURS only: the documents they co-occur in. */
  documents: string[];
}

/** What one document contributes to the graph; replaces its previous contribution. */
export interface DocumentGraph {
  document: { id: string; ownerId: string; title: string };
  /** Entities found in it (ids from `entityId`), with the CONTAINS properties. */
  entities: Array<{ id: string; name: string; type: string; confidence: number; position: number; context: string }>;
  /** Pairs (`source < target`) sharing chunks of this document, and how many chunks. */
  cooccurrences: Array<{ source: string; target: string; frequency: number }>;
}

/** An entity found by expansion, with its distance (hops) and relevance. */
export interface RankedEntity {
  id: string;
  name: string;
  type: string;
  distance: number;
  relevance: number;
}

/** An entity as a document contains it. */
export interface ContainedEntity extends EntityRef {
  confidence: number;
  /** Offset of the first mention in the document's text. */
  position: number;
  /** Text around the first mention. */
  context: string;
}

export interface Neighbour {
  entity: EntityRef;
  relation: GraphRelation;
}

/** A shortest path: `nodes[i]` and `nodes[i + 1]` are joined by `relations[i]`. */
export interface GraphPath {
  nodes: EntityRef[];
  relations: GraphRelation[];
  length: number;
}

/** The entity graph as algorithms see it: undirected, weighted. */
export interface ProjectedGraph {
  nodes: EntityRef[];
  edges: Array<{ source: string; target: string; weight: number }>;
}

export interface ExpandOptions {
  /** Hops from the seeds, 0 to MAX_GRAPH_DEPTH. */
  depth: number;
  limit: number;
  /** Entities left out of the answer (still walked through). */
  exclude?: readonly string[];
  relationTypes?: readonly RelationType[];
}

/** One node or relationship of a whole-graph export, as JSON (typed values tagged: `{ $int }`, `{ $ints }`, `{ $dt }`). */
export type GraphDumpRecord =
  | { kind: 'node'; labels: string[]; properties: Record<string, unknown> }
  | {
      kind: 'relationship';
      type: string;
      from: [label: string, id: string];
      to: [label: string, id: string];
      properties: Record<string, unknown>;
    };

/**
 * Export and import of a whole graph (backups), for a graph kept outside PostgreSQL; the
 * embedded graph is in PostgreSQL tables and goes with their snapshot.
 */
export interface GraphDump {
  /** Every node, then every relationship, streamed. */
  export(): AsyncIterable<GraphDumpRecord>;
  /** Creates what an export wrote (nodes before the relationships that join them). */
  import(records: AsyncIterable<GraphDumpRecord>): Promise<{ nodes: number; relationships: number }>;
  /** Nodes in the graph (0: empty). */
  count(): Promise<number>;
}

/**
 * The knowledge graph: Neo4j, or tables in PostgreSQL on the embedded default. Both pass
 * one contract suite; writes take effect atomically per call.
 */
export interface GraphStore {
  /**
   * Graph algorithms run by the store's own server (Neo4j with Graph Data Science), when it
   * can; without them they run in process over `project()`, with the same answers.
   */
  readonly algorithms?: ServerAlgorithms;
  /** Creates constraints and indexes if missing; called once at start. */
  init(): Promise<void>;
  /**
   * Changes after every committed write that touches this owner's entities (any write when
   * undefined); algorithm caches are keyed by it.
   */
  version(ownerId?: string): Promise<string>;
  /** Creates or updates entities by id (the `manual` flag is only ever raised). */
  upsertEntities(entities: readonly GraphEntity[]): Promise<void>;
  getEntity(id: string): Promise<GraphEntity | undefined>;
  /** Removes the entity and its relations; a missing entity is not an error. */
  deleteEntity(id: string): Promise<void>;
  /**
   * Entities of one owner (all owners when undefined) whose name contains `text`, ignoring
   * case; names that start with it first, then shorter names, then by name.
   */
  findEntities(ownerId: string | undefined, text: string, limit: number): Promise<EntityRef[]>;
  /** Creates a RELATED_TO, or updates the one with the same ends and type. */
  upsertRelation(relation: {
    id: string;
    source: string;
    target: string;
    type: string;
    weight: number;
  }): Promise<GraphRelation>;
  getRelation(id: string): Promise<GraphRelation | undefined>;
  /** Removes a RELATED_TO; false when there was none with this id. */
  deleteRelation(id: string): Promise<boolean>;
  /** Replaces what one document contributes (CONTAINS, CO_OCCURS counts) in one transaction. */
  replaceDocument(graph: DocumentGraph): Promise<void>;
  /** Removes the document node, its contribution, and extracted entities nothing else mentions. */
  deleteDocument(documentId: string): Promise<void>;
  /** The entities a document contains with their CONTAINS properties, most confident first. */
  documentEntities(documentId: string, limit: number): Promise<ContainedEntity[]>;
  /**
   * `expand` seeded from documents: the `perDocument` most confident entities each document
   * contains, with score = the document's score × the CONTAINS confidence (the best over
   * the documents). One round trip, whatever the number of seeds.
   */
  expandDocuments(
    documents: ReadonlyArray<{ id: string; score: number }>,
    options: ExpandOptions & { perDocument: number },
  ): Promise<RankedEntity[]>;
  /**
   * Entities within `depth` hops of the seeds (seeds included at distance 0): relevance is
   * the seed's score times the product of the weights along the path, the best over all
   * paths; distance is the fewest hops. Ordered by relevance, then distance, name, id.
   */
  expand(seeds: ReadonlyArray<{ id: string; score: number }>, options: ExpandOptions): Promise<RankedEntity[]>;
  /** Directly related entities, heaviest relation first. */
  neighbours(id: string, options: { relationTypes: readonly RelationType[]; limit: number }): Promise<Neighbour[]>;
  /** One shortest path of at most `maxHops` relations, or undefined. */
  shortestPath(from: string, to: string, maxHops: number): Promise<GraphPath | undefined>;
  /** The entity graph of one owner (all owners when undefined), for in-process algorithms. */
  project(ownerId: string | undefined): Promise<ProjectedGraph>;
  /** One round trip to the backing service. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /** Whole-graph export and import, when the graph lives outside PostgreSQL. */
  readonly dump?: GraphDump;
}

/** The id of an entity: one per owner, type and normalised name. */
export function entityId(ownerId: string, type: string, name: string): string {
  return `e_${createHash('sha256')
    .update(`${ownerId}\u0000${type}\u0000${normaliseName(name)}`)
    .digest('hex')
    .slice(0, 32)}`;
}

/** Names that differ only in case, width or spacing are the same entity. */
export function normaliseName(name: string): string {
  return name.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

/** The key of the change counter of one owner's entities (`owner:<id>`), or of the whole graph (`graph`). */
export function versionScope(ownerId: string | undefined): string {
  return ownerId === undefined ? 'graph' : `owner:${ownerId}`;
}

/** The counters a write that touched these owners' entities advances, in one order. */
export function versionScopes(owners: readonly string[]): string[] {
  return [versionScope(undefined), ...new Set(owners.map((owner) => versionScope(owner)))].sort();
}

/** The depth of a variable-length pattern: an integer 0..max, checked before it reaches query text. */
export function checkedDepth(depth: unknown, min = 0, max = MAX_GRAPH_DEPTH): number {
  if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < min || depth > max) {
    throw new AppError('VALIDATION', { message: `depth must be an integer from ${min} to ${max}` });
  }
  return depth;
}

/** Relation types for a pattern, from the whitelist only. */
export function checkedRelationTypes(types: readonly string[]): RelationType[] {
  const unknown = types.filter((t) => !(relationTypes as readonly string[]).includes(t));
  if (unknown.length > 0 || types.length === 0) {
    throw new AppError('VALIDATION', { message: `relation types must be some of ${relationTypes.join(', ')}` });
  }
  return [...new Set(types)] as RelationType[];
}

/** Orders search results the same way in every store. */
export function compareFound(text: string): (a: EntityRef, b: EntityRef) => number {
  const lower = text.toLowerCase();
  const rank = (e: EntityRef) => (e.name.toLowerCase().startsWith(lower) ? 0 : 1);
  return (a, b) =>
    rank(a) - rank(b) || a.name.length - b.name.length || compareText(a.name, b.name) || compareText(a.id, b.id);
}

/** Orders expansion results the same way in every store. */
export function compareRanked(a: RankedEntity, b: RankedEntity): number {
  return b.relevance - a.relevance || a.distance - b.distance || compareText(a.name, b.name) || compareText(a.id, b.id);
}

/** Code-point order, the same in Cypher and in PostgreSQL with `collate "C"`. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Algorithms a graph server runs itself. */
export interface ServerAlgorithms {
  /** Whether the server has them (checked once; GRAPH_GDS=off says no without asking). */
  available(): Promise<boolean>;
  run(name: AlgorithmName, options: { ownerId?: string | undefined; limit: number }): Promise<AlgorithmResult>;
}
