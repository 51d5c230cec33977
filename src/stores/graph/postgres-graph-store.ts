import type pg from 'pg';
import { AppError } from '../../errors/app-error.js';
import { sleep } from '../../util/timeout.js';
import { withTransaction } from '../postgres/transaction.js';
import {
  relationTypes as allRelationTypes,
  type ContainedEntity,
  checkedDepth,
  checkedRelationTypes,
  compareFound,
  compareRanked,
  type DocumentGraph,
  type EntityRef,
  type ExpandOptions,
  type GraphEntity,
  type GraphPath,
  type GraphRelation,
  type GraphStore,
  type Neighbour,
  type ProjectedGraph,
  type RankedEntity,
  type RelationType,
  versionScope,
  versionScopes,
} from './graph-store.js';

const relationColumns = (r: string) => `${r}.id, ${r}.source_id as source, ${r}.target_id as target,
  ${r}.relation_type as "relationType", ${r}.type, ${r}.weight, ${r}.frequency, ${r}.documents`;
const RELATION_COLUMNS = relationColumns('graph_relations');
const ENTITY_COLUMNS = `id, owner_id as "ownerId", name, type, description, properties, manual`;
/** Both directions of every relation: the graph is walked undirected, as Cypher's `-[]-`. */
const ADJACENT = `(select source_id as src, target_id as dst, relation_type, weight from graph_relations
  union all select target_id, source_id, relation_type, weight from graph_relations)`;
/** PostgreSQL reports these when concurrent writers meet; the whole transaction is retried. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * The knowledge graph kept in PostgreSQL tables (migrations 0001 and 0005), for the
 * embedded default: neighbourhoods expanded hop by hop in one query, shortest paths by a
 * breadth-first search that asks for one level at a time, algorithms in process on
 * `project()`.
 */
export class PostgresGraphStore implements GraphStore {
  constructor(private readonly pool: pg.Pool) {}

  async init(): Promise<void> {}

  async version(ownerId?: string): Promise<string> {
    const result = await this.pool.query<{ version: string }>('select version from graph_versions where scope = $1', [
      versionScope(ownerId),
    ]);
    return result.rows[0]?.version ?? '0';
  }

  async upsertEntities(entities: readonly GraphEntity[]): Promise<void> {
    if (entities.length === 0) return;
    const sorted = [...entities].sort((a, b) => (a.id < b.id ? -1 : 1));
    await this.write(async (client) => {
      await client.query(
        `insert into graph_entities (id, owner_id, name, type, description, properties, manual)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::boolean[])
         on conflict (id) do update
           set name = excluded.name, type = excluded.type, description = excluded.description,
               properties = excluded.properties, manual = graph_entities.manual or excluded.manual, updated_at = now()`,
        [
          sorted.map((e) => e.id),
          sorted.map((e) => e.ownerId),
          sorted.map((e) => e.name),
          sorted.map((e) => e.type),
          sorted.map((e) => e.description),
          sorted.map((e) => JSON.stringify(e.properties)),
          sorted.map((e) => e.manual),
        ],
      );
      return { value: undefined, owners: sorted.map((e) => e.ownerId) };
    });
  }

  async getEntity(id: string): Promise<GraphEntity | undefined> {
    const result = await this.pool.query<GraphEntity>(`select ${ENTITY_COLUMNS} from graph_entities where id = $1`, [
      id,
    ]);
    return result.rows[0];
  }

  async deleteEntity(id: string): Promise<void> {
    await this.write(async (client) => {
      const result = await client.query<{ owner_id: string }>(
        'delete from graph_entities where id = $1 returning owner_id',
        [id],
      );
      return { value: undefined, owners: result.rows.map((r) => r.owner_id) };
    });
  }

  async findEntities(ownerId: string | undefined, text: string, limit: number): Promise<EntityRef[]> {
    const result = await this.pool.query<EntityRef>(
      `select id, name, type from graph_entities
       where ($1::text is null or owner_id = $1) and strpos(lower(name), lower($2)) > 0
       order by (strpos(lower(name), lower($2)) <> 1), length(name), name collate "C", id collate "C"
       limit $3`,
      [ownerId ?? null, text, limit],
    );
    return result.rows.sort(compareFound(text));
  }

  async upsertRelation(relation: {
    id: string;
    source: string;
    target: string;
    type: string;
    weight: number;
  }): Promise<GraphRelation> {
    return this.write(async (client) => {
      const result = await client.query<GraphRelation & { owner: string }>(
        `insert into graph_relations (id, source_id, target_id, relation_type, type, weight)
         select $1, s.id, t.id, 'RELATED_TO', $4, $5 from graph_entities s, graph_entities t where s.id = $2 and t.id = $3
         on conflict (relation_type, source_id, target_id, type) do update set weight = excluded.weight, updated_at = now()
         returning ${RELATION_COLUMNS}, (select owner_id from graph_entities where id = graph_relations.source_id) as owner`,
        [relation.id, relation.source, relation.target, relation.type, relation.weight],
      );
      const row = result.rows[0];
      if (row === undefined) throw new AppError('NOT_FOUND', { message: 'both entities of a relation must exist' });
      const { owner, ...value } = row;
      return { value, owners: [owner] };
    });
  }

  async getRelation(id: string): Promise<GraphRelation | undefined> {
    const result = await this.pool.query<GraphRelation>(
      `select ${RELATION_COLUMNS} from graph_relations where id = $1`,
      [id],
    );
    return result.rows[0];
  }

  async deleteRelation(id: string): Promise<boolean> {
    return this.write(async (client) => {
      const result = await client.query<{ owner: string }>(
        `delete from graph_relations r using graph_entities e
         where r.id = $1 and r.relation_type = 'RELATED_TO' and e.id = r.source_id
         returning e.owner_id as owner`,
        [id],
      );
      return { value: result.rows.length > 0, owners: result.rows.map((r) => r.owner) };
    });
  }

  async replaceDocument(graph: DocumentGraph): Promise<void> {
    const { document } = graph;
    const entities = [...graph.entities].sort((a, b) => (a.id < b.id ? -1 : 1));
    const pairs = [...graph.cooccurrences].sort((a, b) =>
      a.source < b.source ? -1 : a.source > b.source ? 1 : a.target < b.target ? -1 : 1,
    );
    await this.write(async (client) => {
      await client.query(
        `insert into graph_documents (id, owner_id, title) values ($1, $2, $3)
         on conflict (id) do update set title = excluded.title, updated_at = now()`,
        [document.id, document.ownerId, document.title],
      );
      const previous = await this.removeContribution(client, document.id);
      await lockPairs(client, [...previous.pairs, ...pairs.map((p) => [p.source, p.target] as [string, string])]);
      await client.query(
        `insert into graph_entities (id, owner_id, name, type)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::text[])
         on conflict (id) do update set updated_at = now()`,
        [
          entities.map((e) => e.id),
          entities.map(() => document.ownerId),
          entities.map((e) => e.name),
          entities.map((e) => e.type),
        ],
      );
      await client.query(
        `insert into graph_contains (document_id, entity_id, confidence, position, context)
         select $1, * from unnest($2::text[], $3::float8[], $4::int[], $5::text[])`,
        [
          document.id,
          entities.map((e) => e.id),
          entities.map((e) => e.confidence),
          entities.map((e) => e.position),
          entities.map((e) => e.context),
        ],
      );
      await client.query(
        `insert into graph_cooccurrences (document_id, source_id, target_id, frequency)
         select $1, * from unnest($2::text[], $3::text[], $4::int[])`,
        [document.id, pairs.map((p) => p.source), pairs.map((p) => p.target), pairs.map((p) => p.frequency)],
      );
      await this.recountCooccurrences(client, [
        ...previous.pairs,
        ...pairs.map((p) => [p.source, p.target] as [string, string]),
      ]);
      await this.removeOrphans(client, previous.entities);
      return { value: undefined, owners: [document.ownerId] };
    });
  }

  async deleteDocument(documentId: string): Promise<void> {
    await this.write(async (client) => {
      const previous = await this.removeContribution(client, documentId);
      await lockPairs(client, previous.pairs);
      const deleted = await client.query<{ owner_id: string }>(
        'delete from graph_documents where id = $1 returning owner_id',
        [documentId],
      );
      await this.recountCooccurrences(client, previous.pairs);
      await this.removeOrphans(client, previous.entities);
      return { value: undefined, owners: deleted.rows.map((r) => r.owner_id) };
    });
  }

  async documentEntities(documentId: string, limit: number): Promise<ContainedEntity[]> {
    const result = await this.pool.query<ContainedEntity>(
      `select e.id, e.name, e.type, c.confidence, c.position, c.context
       from graph_contains c join graph_entities e on e.id = c.entity_id
       where c.document_id = $1
       order by c.confidence desc, c.position, e.id collate "C"
       limit $2`,
      [documentId, limit],
    );
    return result.rows;
  }

  async expand(seeds: ReadonlyArray<{ id: string; score: number }>, options: ExpandOptions): Promise<RankedEntity[]> {
    if (seeds.length === 0) return [];
    return this.walk(
      'select * from unnest($1::text[], $2::float8[]) as s(id, score)',
      [seeds.map((s) => s.id), seeds.map((s) => s.score)],
      options,
    );
  }

  async expandDocuments(
    documents: ReadonlyArray<{ id: string; score: number }>,
    options: ExpandOptions & { perDocument: number },
  ): Promise<RankedEntity[]> {
    if (documents.length === 0) return [];
    return this.walk(
      `select c.entity_id as id, max(d.score * c.confidence) as score
       from unnest($1::text[], $2::float8[]) as d(id, score)
       cross join lateral (
         select entity_id, confidence from graph_contains where document_id = d.id
         order by confidence desc, entity_id collate "C" limit $3) c
       group by c.entity_id`,
      [documents.map((d) => d.id), documents.map((d) => d.score), options.perDocument],
      options,
    );
  }

  async neighbours(
    id: string,
    options: { relationTypes: readonly RelationType[]; limit: number },
  ): Promise<Neighbour[]> {
    const result = await this.pool.query<
      GraphRelation & { neighbourId: string; neighbourName: string; neighbourType: string }
    >(
      `select ${relationColumns('r')}, e.id as "neighbourId", e.name as "neighbourName", e.type as "neighbourType"
       from graph_relations r join graph_entities e on e.id = case when r.source_id = $1 then r.target_id else r.source_id end
       where (r.source_id = $1 or r.target_id = $1) and r.relation_type = any($2)
       order by r.weight desc, e.name collate "C", e.id collate "C", r.id collate "C"
       limit $3`,
      [id, checkedRelationTypes(options.relationTypes), options.limit],
    );
    return result.rows.map(({ neighbourId, neighbourName, neighbourType, ...relation }) => ({
      entity: { id: neighbourId, name: neighbourName, type: neighbourType },
      relation,
    }));
  }

  async shortestPath(from: string, to: string, maxHops: number): Promise<GraphPath | undefined> {
    const ends = await this.pool.query<EntityRef>('select id, name, type from graph_entities where id = any($1)', [
      [from, to],
    ]);
    const start = ends.rows.find((e) => e.id === from);
    if (start === undefined || !ends.rows.some((e) => e.id === to)) return undefined;
    if (from === to) return { nodes: [start], relations: [], length: 0 };
    // Breadth-first, one query per level; `reachedBy` holds the relation each node was first reached through.
    const reachedBy = new Map<string, GraphRelation | null>([[from, null]]);
    let frontier = [from];
    for (let hop = 0; hop < maxHops && frontier.length > 0 && !reachedBy.has(to); hop++) {
      const level = await this.pool.query<GraphRelation & { reached: string }>(
        `select a.dst as reached, ${relationColumns('a')} from
           (select source_id as src, target_id as dst, * from graph_relations where source_id = any($1)
            union all select target_id, source_id, * from graph_relations where target_id = any($1)) a
         order by a.src collate "C", a.dst collate "C", a.id collate "C"`,
        [frontier],
      );
      const next: string[] = [];
      for (const { reached, ...relation } of level.rows) {
        if (reachedBy.has(reached)) continue;
        reachedBy.set(reached, relation);
        next.push(reached);
      }
      frontier = next;
    }
    if (!reachedBy.has(to)) return undefined;
    const relations: GraphRelation[] = [];
    const ids = [to];
    for (let at = to; at !== from; ) {
      const relation = reachedBy.get(at) as GraphRelation;
      relations.unshift(relation);
      at = relation.source === at ? relation.target : relation.source;
      ids.unshift(at);
    }
    const names = await this.pool.query<EntityRef>('select id, name, type from graph_entities where id = any($1)', [
      ids,
    ]);
    const byId = new Map(names.rows.map((e) => [e.id, e]));
    return { nodes: ids.map((id) => byId.get(id) as EntityRef), relations, length: relations.length };
  }

  async project(ownerId: string | undefined): Promise<ProjectedGraph> {
    const nodes = await this.pool.query<EntityRef>(
      'select id, name, type from graph_entities where $1::text is null or owner_id = $1 order by id collate "C"',
      [ownerId ?? null],
    );
    const edges = await this.pool.query<{ source: string; target: string; weight: number }>(
      `select r.source_id as source, r.target_id as target, r.weight from graph_relations r
       join graph_entities e on e.id = r.source_id where $1::text is null or e.owner_id = $1
       order by r.id collate "C"`,
      [ownerId ?? null],
    );
    return { nodes: nodes.rows, edges: edges.rows };
  }

  async ping(): Promise<void> {
    await this.pool.query('select 1');
  }

  async close(): Promise<void> {}

  /**
   * Expansion from the seeds, one hop per CTE (depth is at most 3): each hop keeps, per
   * entity, the best relevance reaching it, instead of every path. That gives the same
   * answer as enumerating simple paths, because weights are at most 1: a walk that comes
   * back to an entity never beats the path without the loop, in relevance or in hops.
   */
  private async walk(seedsQuery: string, seedParams: unknown[], options: ExpandOptions): Promise<RankedEntity[]> {
    const depth = checkedDepth(options.depth);
    const types = checkedRelationTypes(options.relationTypes ?? allRelationTypes);
    const at = seedParams.length;
    const hops = Array.from(
      { length: depth },
      (_, i) => `hop${i + 1} as (
         select a.dst as node, max(h.relevance * a.weight) as relevance
         from hop${i} h join ${ADJACENT} a on a.src = h.node
         where a.relation_type = any($${at + 3})
         group by a.dst)`,
    );
    const reached = Array.from(
      { length: depth + 1 },
      (_, i) => `select node, relevance, ${i} as depth from hop${i}`,
    ).join(' union all ');
    const result = await this.pool.query<RankedEntity>(
      `with seeds as (${seedsQuery}),
       hop0 as (select id as node, max(score)::float8 as relevance from seeds group by id)${hops.map((h) => `,\n       ${h}`).join('')}
       select r.node as id, e.name, e.type, r.distance, r.relevance
       from (select node, min(depth)::int as distance, round(max(relevance)::numeric, 9)::float8 as relevance
             from (${reached}) w where node <> all($${at + 1}::text[]) group by node) r
       -- Names by index per reached entity (limit 1 keeps the planner from a hash join that reads every entity).
       cross join lateral (select name, type from graph_entities where id = r.node limit 1) e
       order by r.relevance desc, r.distance, e.name collate "C", r.node collate "C"
       limit $${at + 2}`,
      [...seedParams, options.exclude ?? [], options.limit, ...(depth > 0 ? [types] : [])],
    );
    return result.rows.sort(compareRanked);
  }

  /**
   * One write transaction, retried on deadlock or serialisation failure, which names the
   * owners whose entities it changed; their versions and the whole graph's advance after
   * the commit (see Neo4jGraphStore.write). A failed advance leaves caches to expire.
   */
  private async write<T>(
    work: (client: pg.PoolClient) => Promise<{ value: T; owners: readonly string[] }>,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { value, owners } = await withTransaction(this.pool, work);
        const scopes = versionScopes(owners);
        await this.pool
          .query(
            `insert into graph_versions (scope, version) select scope, 1 from unnest($1::text[]) as scope order by scope
             on conflict (scope) do update set version = graph_versions.version + 1`,
            [scopes],
          )
          .catch(() => undefined);
        return value;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= 5 || code === undefined || !RETRYABLE.has(code)) throw error;
        await sleep(10 * attempt * Math.random());
      }
    }
  }

  /** Deletes a document's CONTAINS and co-occurrence counts; returns what they touched. */
  private async removeContribution(client: pg.PoolClient, documentId: string) {
    const contained = await client.query<{ entity_id: string }>(
      'delete from graph_contains where document_id = $1 returning entity_id',
      [documentId],
    );
    const pairs = await client.query<{ source_id: string; target_id: string }>(
      'delete from graph_cooccurrences where document_id = $1 returning source_id, target_id',
      [documentId],
    );
    return {
      entities: contained.rows.map((r) => r.entity_id),
      pairs: pairs.rows.map((r) => [r.source_id, r.target_id] as [string, string]),
    };
  }

  /**
   * Makes each pair's CO_OCCURS row the sum of its per-document counts (none: no row).
   * The pairs must be locked (lockPairs) so that the sum sees every other document's
   * committed counts.
   */
  private async recountCooccurrences(client: pg.PoolClient, pairs: ReadonlyArray<[string, string]>): Promise<void> {
    if (pairs.length === 0) return;
    const unique = [...new Map(pairs.map((p) => [`${p[0]}\u0000${p[1]}`, p])).values()].sort((a, b) =>
      a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : 1,
    );
    const sources = unique.map((p) => p[0]);
    const targets = unique.map((p) => p[1]);
    await client.query(
      `insert into graph_relations (id, source_id, target_id, relation_type, type, weight, frequency, documents)
       select 'co_' || md5(c.source_id || '/' || c.target_id), c.source_id, c.target_id, 'CO_OCCURS', '',
              sum(c.frequency)::float8 / (sum(c.frequency) + 1), sum(c.frequency), -- strength: f / (f + 1)
              array_agg(c.document_id order by c.document_id collate "C")
       from graph_cooccurrences c join unnest($1::text[], $2::text[]) as p(s, t) on c.source_id = p.s and c.target_id = p.t
       group by c.source_id, c.target_id
       order by c.source_id, c.target_id
       on conflict (relation_type, source_id, target_id, type) do update
         set weight = excluded.weight, frequency = excluded.frequency, documents = excluded.documents, updated_at = now()`,
      [sources, targets],
    );
    await client.query(
      `delete from graph_relations r using unnest($1::text[], $2::text[]) as p(s, t)
       where r.relation_type = 'CO_OCCURS' and r.source_id = p.s and r.target_id = p.t
         and not exists (select 1 from graph_cooccurrences c where c.source_id = p.s and c.target_id = p.t)`,
      [sources, targets],
    );
  }

  /** Deletes extracted entities among `ids` that no document contains any more. */
  private async removeOrphans(client: pg.PoolClient, ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    // Locked first, in id order: a concurrent ingestion that links one of them either
    // commits before the check below sees it, or waits and then inserts it anew.
    const locked = await client.query<{ id: string }>(
      'select id from graph_entities where id = any($1) order by id for update',
      [[...new Set(ids)]],
    );
    await client.query(
      `delete from graph_entities e where e.id = any($1) and not e.manual
         and not exists (select 1 from graph_contains c where c.entity_id = e.id)`,
      [locked.rows.map((r) => r.id)],
    );
  }
}

/**
 * Serialises the transactions that change one pair's co-occurrence counts: each takes a
 * transaction-scoped advisory lock per pair (two-key form, hashes of both ids) in one sorted
 * order, so none deadlocks, and the recount after it, a new statement, sees what the
 * others committed. Without it two documents' recounts overwrite each other's sums.
 */
async function lockPairs(client: pg.PoolClient, pairs: ReadonlyArray<[string, string]>): Promise<void> {
  if (pairs.length === 0) return;
  await client.query(
    `select pg_advisory_xact_lock(k.a, k.b) from (
       select distinct hashtext(s) as a, hashtext(t) as b from unnest($1::text[], $2::text[]) as p(s, t) order by 1, 2) k`,
    [pairs.map((p) => p[0]), pairs.map((p) => p[1])],
  );
}
