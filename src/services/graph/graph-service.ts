import { randomUUID } from 'node:crypto';
import { AppError } from '../../errors/app-error.js';
import type { Logger } from '../../logger.js';
import {
  type EntityRef,
  entityId,
  type GraphEntity,
  type GraphPath,
  type GraphRelation,
  type GraphStore,
  type Neighbour,
  normaliseName,
  type RankedEntity,
  type RelationType,
  type ServerAlgorithms,
} from '../../stores/graph/graph-store.js';
import type { AuditLog } from '../../stores/postgres/repositories/audit.js';
import { roundTo } from '../../util/numbers.js';
import type { Caller } from '../session-service.js';
import { type AlgorithmName, type AlgorithmResult, runInWorker } from './algorithms.js';
import { mentionIn } from './extraction.js';

export interface GraphServiceOptions {
  graph: GraphStore;
  audit: AuditLog;
  logger: Logger;
  /** `auto`: use Neo4j's Graph Data Science procedures when the server has them. */
  gds: 'auto' | 'off';
}

/** A hit of the vector search, as the hybrid ranking needs it. */
export interface VectorHit {
  documentId: string;
  score: number;
}

/** Entities a document contributes as seeds of the hybrid expansion. */
const SEEDS_PER_DOCUMENT = 10;
/** Each hop away from the hit documents keeps this share of an entity's relevance. */
const HOP_DECAY = 0.8;
/** How long an algorithm result may be served while the graph version is unchanged. */
const ALGORITHM_CACHE_MS = 10 * 60_000;
const ALGORITHM_CACHE_ENTRIES = 32;

/**
 * The knowledge graph as callers see it: every entity belongs to one user, and a caller
 * sees only their own (admins see all); an entity someone else owns is reported as not
 * found, so ids do not leak. Hand-made changes are audited. Algorithm results are cached
 * per graph version.
 */
export class GraphService {
  private readonly cache = new Map<string, { version: string; at: number; result: AlgorithmResult }>();
  private readonly running = new Map<string, Promise<AlgorithmResult>>();
  private gdsAvailable: Promise<boolean> | undefined;

  constructor(private readonly options: GraphServiceOptions) {}

  async entity(caller: Caller, id: string): Promise<GraphEntity> {
    const entity = await this.options.graph.getEntity(id);
    if (entity === undefined || !mayRead(caller, entity.ownerId))
      throw new AppError('NOT_FOUND', { message: 'entity not found' });
    return entity;
  }

  /** The caller's entities whose name contains `text` (admins: everyone's). */
  find(caller: Caller, text: string, limit: number): Promise<EntityRef[]> {
    return this.options.graph.findEntities(caller.role === 'admin' ? undefined : caller.userId, text, limit);
  }

  async related(caller: Caller, id: string, depth: number, limit: number): Promise<RankedEntity[]> {
    await this.entity(caller, id);
    return this.options.graph.expand([{ id, score: 1 }], { depth, limit, exclude: [id] });
  }

  async neighbours(
    caller: Caller,
    id: string,
    relationTypes: readonly RelationType[],
    limit: number,
  ): Promise<Neighbour[]> {
    await this.entity(caller, id);
    return this.options.graph.neighbours(id, { relationTypes, limit });
  }

  async path(caller: Caller, from: string, to: string, maxHops: number): Promise<GraphPath> {
    await this.entity(caller, from);
    await this.entity(caller, to);
    const path = await this.options.graph.shortestPath(from, to, maxHops);
    if (path === undefined)
      throw new AppError('NOT_FOUND', { message: `no path of at most ${maxHops} relations between the entities` });
    return path;
  }

  /** Adds an entity of the caller by hand (or marks the extracted one with that name and type as kept). */
  async createEntity(
    caller: Caller,
    input: {
      name: string;
      type: string;
      description?: string | undefined;
      properties?: Record<string, unknown> | undefined;
    },
  ): Promise<GraphEntity> {
    const id = entityId(caller.userId, input.type, input.name);
    const existing = await this.options.graph.getEntity(id);
    const entity: GraphEntity = {
      id,
      ownerId: caller.userId,
      name: existing?.name ?? input.name,
      type: input.type,
      description: input.description ?? existing?.description ?? '',
      properties: input.properties ?? existing?.properties ?? {},
      manual: true,
    };
    await this.options.graph.upsertEntities([entity]);
    await this.options.audit.record(caller, {
      action: 'graph.entity.create',
      resourceType: 'entity',
      resourceId: id,
      details: { name: entity.name, type: entity.type },
    });
    return entity;
  }

  async deleteEntity(caller: Caller, id: string): Promise<void> {
    await this.entity(caller, id);
    await this.options.graph.deleteEntity(id);
    await this.options.audit.record(caller, { action: 'graph.entity.delete', resourceType: 'entity', resourceId: id });
  }

  /** Relates two entities of one owner (RELATED_TO; co-occurrences come only from documents). */
  async createRelation(
    caller: Caller,
    input: { from: string; to: string; type: string; weight: number },
  ): Promise<GraphRelation> {
    const [from, to] = [await this.entity(caller, input.from), await this.entity(caller, input.to)];
    if (from.ownerId !== to.ownerId)
      throw new AppError('VALIDATION', { message: 'both entities must belong to the same user' });
    if (from.id === to.id) throw new AppError('VALIDATION', { message: 'an entity cannot be related to itself' });
    const relation = await this.options.graph.upsertRelation({
      id: `rel_${randomUUID()}`,
      source: from.id,
      target: to.id,
      type: input.type,
      weight: input.weight,
    });
    await this.options.audit.record(caller, {
      action: 'graph.relation.create',
      resourceType: 'relation',
      resourceId: relation.id,
      details: { from: from.id, to: to.id },
    });
    return relation;
  }

  async deleteRelation(caller: Caller, id: string): Promise<void> {
    const relation = await this.options.graph.getRelation(id);
    if (relation === undefined) throw new AppError('NOT_FOUND', { message: 'relation not found' });
    await this.entity(caller, relation.source).catch(() => {
      throw new AppError('NOT_FOUND', { message: 'relation not found' });
    });
    await this.options.graph.deleteRelation(id);
    await this.options.audit.record(caller, {
      action: 'graph.relation.delete',
      resourceType: 'relation',
      resourceId: id,
    });
  }

  /**
   * Runs an algorithm over the whole entity graph or one owner's (admins only), with the
   * Graph Data Science plugin when Neo4j has it, otherwise with graphology on a worker
   * thread. Results are cached until the graph changes (at most ALGORITHM_CACHE_MS).
   */
  async algorithm(
    caller: Caller,
    name: AlgorithmName,
    options: { ownerId?: string | undefined; limit: number },
  ): Promise<AlgorithmResult & { cached: boolean }> {
    if (caller.role !== 'admin') throw new AppError('FORBIDDEN', { message: 'admins only' });
    const key = `${name}\u0000${options.ownerId ?? '*'}\u0000${options.limit}`;
    const version = await this.options.graph.version(options.ownerId);
    const hit = this.cache.get(key);
    if (hit !== undefined && hit.version === version && Date.now() - hit.at < ALGORITHM_CACHE_MS)
      return { ...hit.result, cached: true };
    // The same computation asked again while it runs joins the running one.
    const runKey = `${key}\u0000${version}`;
    let running = this.running.get(runKey);
    if (running === undefined) {
      running = this.compute(name, options).finally(() => this.running.delete(runKey));
      this.running.set(runKey, running);
    }
    const result = await running;
    this.cache.delete(key);
    this.cache.set(key, { version, at: Date.now(), result });
    if (this.cache.size > ALGORITHM_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.options.logger.info(
      { algorithm: name, engine: result.engine, nodes: result.nodeCount, ms: result.computeMs },
      'graph algorithm computed',
    );
    return { ...result, cached: false };
  }

  /**
   * The graph half of `retrieve`. Seeds are the entities of the hit documents (up to
   * SEEDS_PER_DOCUMENT each, most confident first) with score = the document's best chunk
   * score × the CONTAINS confidence. Expansion walks up to `depth` hops, multiplying by
   * each relation's weight and keeping an entity's best path. The score then combines the
   * three: vector score × confidence × relation weights × HOP_DECAY^distance, doubled for
   * an entity whose name occurs in the query. Best first: relevance, then distance.
   */
  async expandHits(hits: readonly VectorHit[], query: string, depth: number, limit: number): Promise<RankedEntity[]> {
    const best = new Map<string, number>();
    for (const hit of hits) best.set(hit.documentId, Math.max(best.get(hit.documentId) ?? 0, Math.max(0, hit.score)));
    if (best.size === 0) return [];
    const expanded = await this.options.graph.expandDocuments(
      [...best].map(([id, score]) => ({ id, score })),
      { perDocument: SEEDS_PER_DOCUMENT, depth, limit: limit * 3 },
    );
    const asked = normaliseName(query);
    return expanded
      .map((e) => ({
        ...e,
        relevance: round(
          e.relevance * HOP_DECAY ** e.distance * (mentionIn(asked, normaliseName(e.name)) >= 0 ? 2 : 1),
        ),
      }))
      .sort(
        (a, b) =>
          b.relevance - a.relevance || a.distance - b.distance || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
      )
      .slice(0, limit);
  }

  private async compute(
    name: AlgorithmName,
    options: { ownerId?: string | undefined; limit: number },
  ): Promise<AlgorithmResult> {
    const store = this.options.graph;
    const server = store.algorithms;
    return server !== undefined && (await this.serverHasAlgorithms(server))
      ? server.run(name, options)
      : runInWorker(name, await store.project(options.ownerId), options.limit);
  }

  private serverHasAlgorithms(server: ServerAlgorithms): Promise<boolean> {
    if (this.options.gds === 'off') return Promise.resolve(false);
    this.gdsAvailable ??= server.available().catch((error: unknown) => {
      this.gdsAvailable = undefined;
      throw error;
    });
    return this.gdsAvailable;
  }
}

function mayRead(caller: Caller, ownerId: string): boolean {
  return caller.role === 'admin' || caller.userId === ownerId;
}

const round = (value: number) => roundTo(value, 6);
