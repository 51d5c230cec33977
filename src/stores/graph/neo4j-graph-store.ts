import neo4j, { type Driver, type ManagedTransaction, type Record as Neo4jRecord, type Session } from 'neo4j-driver';
import { AppError } from '../../errors/app-error.js';
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
  type GraphDump,
  type GraphEntity,
  type GraphPath,
  type GraphRelation,
  type GraphStore,
  MAX_PATH_HOPS,
  type Neighbour,
  type ProjectedGraph,
  type RankedEntity,
  type RelationType,
  type ServerAlgorithms,
  versionScope,
  versionScopes,
} from './graph-store.js';
import { Neo4jDump } from './neo4j-dump.js';
import { runWithGds } from './neo4j-gds.js';

/** Connection settings of the Neo4j adapter. */
export interface Neo4jGraphStoreOptions {
  uri: string;
  user: string;
  password: string | undefined;
  /** How long a query is retried (with backoff) on a transient failure or a lost connection before it fails. */
  retryMs: number;
}

/** Longest a single query may run on the server (algorithms on GDS included). */
const QUERY_TIMEOUT_MS = 60_000;

/** A relationship as every query returns it. */
const RELATION = `{id: r.id, source: startNode(r).id, target: endNode(r).id, relationType: type(r), type: coalesce(r.type, ''),
  weight: r.weight, frequency: coalesce(r.frequency, 0), documents: coalesce(r.documents, [])}`;
const ENTITY_REF = (v: string) => `{id: ${v}.id, name: ${v}.name, type: ${v}.type}`;

/**
 * The knowledge graph in Neo4j over Bolt. Values always travel as parameters; the only
 * things written into query text are relationship types from the whitelist and depths
 * checked to be small integers (Cypher cannot take either as a parameter).
 *
 * Model: `(:Entity {id, ownerId, name, type, description, properties, manual})`,
 * `(:Document {id, ownerId, title})`, `(:Document)-[:CONTAINS {confidence, position,
 * context}]->(:Entity)`, `(:Entity)-[:RELATED_TO {id, weight, type}]->(:Entity)`, and
 * `(:Entity)-[:CO_OCCURS {id, frequency, documents, documentFrequencies, strength,
 * weight}]->(:Entity)` from the smaller id to the larger, `documentFrequencies[i]` being
 * the count contributed by `documents[i]` (so a document's share can be taken back out).
 */
export class Neo4jGraphStore implements GraphStore {
  private readonly driver: Driver;
  readonly dump: GraphDump;
  readonly algorithms: ServerAlgorithms = {
    available: () => this.hasGds(),
    run: (name, options) => runWithGds(this, name, options),
  };

  constructor(options: Neo4jGraphStoreOptions) {
    this.driver = neo4j.driver(options.uri, neo4j.auth.basic(options.user, options.password ?? ''), {
      connectionTimeout: 5_000,
      connectionAcquisitionTimeout: 10_000,
      maxTransactionRetryTime: options.retryMs,
      disableLosslessIntegers: true,
    });
    this.dump = new Neo4jDump(this.driver);
  }

  async init(): Promise<void> {
    await this.run('write', 'CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE');
    await this.run('write', 'CREATE CONSTRAINT document_id IF NOT EXISTS FOR (d:Document) REQUIRE d.id IS UNIQUE');
    await this.run('write', 'CREATE CONSTRAINT graph_meta_id IF NOT EXISTS FOR (m:GraphMeta) REQUIRE m.id IS UNIQUE');
    await this.run('write', 'CREATE INDEX entity_name IF NOT EXISTS FOR (e:Entity) ON (e.name)');
    await this.run('write', 'CREATE INDEX entity_owner IF NOT EXISTS FOR (e:Entity) ON (e.ownerId)');
    await this.run('write', 'CREATE INDEX related_to_id IF NOT EXISTS FOR ()-[r:RELATED_TO]-() ON (r.id)');
  }

  async version(ownerId?: string): Promise<string> {
    const records = await this.run(
      'read',
      'OPTIONAL MATCH (m:GraphMeta {id: $scope}) RETURN coalesce(m.version, 0) AS v',
      {
        scope: versionScope(ownerId),
      },
    );
    return String(records[0]?.get('v') ?? 0);
  }

  async upsertEntities(entities: readonly GraphEntity[]): Promise<void> {
    if (entities.length === 0) return;
    await this.write(async (tx) => {
      await tx.run(
        `UNWIND $entities AS e
         MERGE (n:Entity {id: e.id})
         ON CREATE SET n.ownerId = e.ownerId, n.created_at = datetime(), n.manual = false
         SET n.name = e.name, n.type = e.type, n.description = e.description, n.properties = e.properties,
             n.manual = n.manual OR e.manual, n.updated_at = datetime()`,
        { entities: entities.map((e) => ({ ...e, properties: JSON.stringify(e.properties) })) },
      );
      return { value: undefined, owners: entities.map((e) => e.ownerId) };
    });
  }

  async getEntity(id: string): Promise<GraphEntity | undefined> {
    const records = await this.run(
      'read',
      `MATCH (n:Entity {id: $id})
       RETURN {id: n.id, ownerId: n.ownerId, name: n.name, type: n.type, description: coalesce(n.description, ''),
               properties: coalesce(n.properties, '{}'), manual: coalesce(n.manual, false)} AS e`,
      { id },
    );
    const entity = records[0]?.get('e') as (Omit<GraphEntity, 'properties'> & { properties: string }) | undefined;
    if (entity === undefined) return undefined;
    return { ...entity, properties: JSON.parse(entity.properties) as Record<string, unknown> };
  }

  async deleteEntity(id: string): Promise<void> {
    await this.write(async (tx) => {
      const result = await tx.run(
        'MATCH (n:Entity {id: $id}) WITH n, n.ownerId AS owner DETACH DELETE n RETURN owner',
        { id },
      );
      return { value: undefined, owners: result.records.map((r) => r.get('owner') as string) };
    });
  }

  async findEntities(ownerId: string | undefined, text: string, limit: number): Promise<EntityRef[]> {
    const records = await this.run(
      'read',
      `MATCH (e:Entity) WHERE ($ownerId IS NULL OR e.ownerId = $ownerId) AND toLower(e.name) CONTAINS toLower($text)
       RETURN ${ENTITY_REF('e')} AS e
       ORDER BY CASE WHEN toLower(e.name) STARTS WITH toLower($text) THEN 0 ELSE 1 END, size(e.name), e.name, e.id
       LIMIT $limit`,
      { ownerId: ownerId ?? null, text, limit: neo4j.int(limit) },
    );
    return records.map((r) => r.get('e') as EntityRef).sort(compareFound(text));
  }

  async upsertRelation(relation: {
    id: string;
    source: string;
    target: string;
    type: string;
    weight: number;
  }): Promise<GraphRelation> {
    return this.write(async (tx) => {
      const result = await tx.run(
        `MATCH (a:Entity {id: $source}), (b:Entity {id: $target})
         MERGE (a)-[r:RELATED_TO {type: $type}]->(b)
         ON CREATE SET r.id = $id, r.created_at = datetime()
         SET r.weight = $weight
         RETURN ${RELATION} AS r, a.ownerId AS owner`,
        relation,
      );
      const row = result.records[0]?.get('r') as GraphRelation | undefined;
      if (row === undefined) throw new AppError('NOT_FOUND', { message: 'both entities of a relation must exist' });
      return { value: row, owners: [result.records[0]?.get('owner') as string] };
    });
  }

  async getRelation(id: string): Promise<GraphRelation | undefined> {
    const records = await this.run('read', `MATCH ()-[r:RELATED_TO {id: $id}]->() RETURN ${RELATION} AS r`, { id });
    return records[0]?.get('r') as GraphRelation | undefined;
  }

  async deleteRelation(id: string): Promise<boolean> {
    return this.write(async (tx) => {
      const result = await tx.run(
        'MATCH (a)-[r:RELATED_TO {id: $id}]->() WITH r, a.ownerId AS owner DELETE r RETURN owner',
        { id },
      );
      const owners = result.records.map((r) => r.get('owner') as string);
      return { value: owners.length > 0, owners };
    });
  }

  async replaceDocument(graph: DocumentGraph): Promise<void> {
    const { document } = graph;
    await this.write(async (tx) => {
      await tx.run(
        `MERGE (d:Document {id: $id}) ON CREATE SET d.ownerId = $ownerId, d.created_at = datetime()
         SET d.title = $title, d.updated_at = datetime()`,
        document,
      );
      const previous = await removeContribution(tx, document.id);
      await tx.run(
        `MATCH (d:Document {id: $documentId})
         UNWIND $entities AS x
         MERGE (e:Entity {id: x.id})
         ON CREATE SET e.ownerId = $ownerId, e.name = x.name, e.type = x.type, e.description = '', e.properties = '{}',
                       e.manual = false, e.created_at = datetime()
         SET e.updated_at = datetime()
         MERGE (d)-[c:CONTAINS]->(e)
         SET c.confidence = x.confidence, c.position = x.position, c.context = x.context`,
        {
          documentId: document.id,
          ownerId: document.ownerId,
          entities: graph.entities.map((e) => ({ ...e, position: neo4j.int(e.position) })),
        },
      );
      await tx.run(
        `UNWIND $pairs AS p
         MATCH (a:Entity {id: p.source}), (b:Entity {id: p.target})
         MERGE (a)-[r:CO_OCCURS]->(b)
         ON CREATE SET r.id = 'co_' + p.source + '_' + p.target, r.documents = [], r.documentFrequencies = [], r.frequency = 0
         // The write lock first: the counts read below are then the latest committed ones.
         SET r._lock = true
         REMOVE r._lock
         WITH r, p, r.frequency + p.frequency AS frequency
         WITH r, p, frequency, toFloat(frequency) / (frequency + 1) AS strength
         SET r.documents = r.documents + $documentId, r.documentFrequencies = r.documentFrequencies + p.frequency,
             r.frequency = frequency, r.strength = strength, r.weight = strength`,
        {
          documentId: document.id,
          pairs: graph.cooccurrences.map((p) => ({ ...p, frequency: neo4j.int(p.frequency) })),
        },
      );
      await removeOrphans(tx, previous);
      return { value: undefined, owners: [document.ownerId] };
    });
  }

  async deleteDocument(documentId: string): Promise<void> {
    await this.write(async (tx) => {
      const previous = await removeContribution(tx, documentId);
      const result = await tx.run(
        'MATCH (d:Document {id: $documentId}) WITH d, d.ownerId AS owner DETACH DELETE d RETURN owner',
        {
          documentId,
        },
      );
      await removeOrphans(tx, previous);
      return { value: undefined, owners: result.records.map((r) => r.get('owner') as string) };
    });
  }

  async documentEntities(documentId: string, limit: number): Promise<ContainedEntity[]> {
    const records = await this.run(
      'read',
      `MATCH (:Document {id: $documentId})-[c:CONTAINS]->(e:Entity)
       RETURN {id: e.id, name: e.name, type: e.type, confidence: c.confidence, position: c.position, context: c.context} AS e
       ORDER BY c.confidence DESC, c.position, e.id
       LIMIT $limit`,
      { documentId, limit: neo4j.int(limit) },
    );
    return records.map((r) => r.get('e') as ContainedEntity);
  }

  async expand(seeds: ReadonlyArray<{ id: string; score: number }>, options: ExpandOptions): Promise<RankedEntity[]> {
    if (seeds.length === 0) return [];
    return this.walk(
      'UNWIND $seeds AS seed MATCH (s:Entity {id: seed.id}) WITH s, seed.score AS score',
      { seeds },
      options,
    );
  }

  async expandDocuments(
    documents: ReadonlyArray<{ id: string; score: number }>,
    options: ExpandOptions & { perDocument: number },
  ): Promise<RankedEntity[]> {
    if (documents.length === 0) return [];
    return this.walk(
      `UNWIND $documents AS document
       CALL {
         WITH document
         MATCH (:Document {id: document.id})-[c:CONTAINS]->(e:Entity)
         RETURN e AS s, document.score * c.confidence AS score ORDER BY c.confidence DESC, e.id LIMIT $perDocument
       }
       WITH s, max(score) AS score`,
      { documents, perDocument: neo4j.int(options.perDocument) },
      options,
    );
  }

  async neighbours(
    id: string,
    options: { relationTypes: readonly RelationType[]; limit: number },
  ): Promise<Neighbour[]> {
    const types = checkedRelationTypes(options.relationTypes).join('|');
    const records = await this.run(
      'read',
      `MATCH (e:Entity {id: $id})-[r:${types}]-(n:Entity)
       RETURN ${ENTITY_REF('n')} AS entity, ${RELATION} AS relation
       ORDER BY r.weight DESC, n.name, n.id, r.id
       LIMIT $limit`,
      { id, limit: neo4j.int(options.limit) },
    );
    return records.map((r) => ({ entity: r.get('entity') as EntityRef, relation: r.get('relation') as GraphRelation }));
  }

  async shortestPath(from: string, to: string, maxHops: number): Promise<GraphPath | undefined> {
    const hops = checkedDepth(maxHops, 1, MAX_PATH_HOPS);
    if (from === to) {
      const entity = await this.getEntity(from);
      return entity === undefined
        ? undefined
        : { nodes: [{ id: entity.id, name: entity.name, type: entity.type }], relations: [], length: 0 };
    }
    const records = await this.run(
      'read',
      `MATCH (a:Entity {id: $from}), (b:Entity {id: $to})
       MATCH path = shortestPath((a)-[:${allRelationTypes.join('|')}*..${hops}]-(b))
       RETURN [n IN nodes(path) | ${ENTITY_REF('n')}] AS nodes, [r IN relationships(path) | ${RELATION}] AS relations`,
      { from, to },
    );
    const record = records[0];
    if (record === undefined) return undefined;
    const relations = record.get('relations') as GraphRelation[];
    return { nodes: record.get('nodes') as EntityRef[], relations, length: relations.length };
  }

  async project(ownerId: string | undefined): Promise<ProjectedGraph> {
    const [nodes, edges] = await Promise.all([
      this.run(
        'read',
        `MATCH (n:Entity) WHERE $ownerId IS NULL OR n.ownerId = $ownerId RETURN ${ENTITY_REF('n')} AS n ORDER BY n.id`,
        { ownerId: ownerId ?? null },
      ),
      this.run(
        'read',
        `MATCH (a:Entity)-[r:${allRelationTypes.join('|')}]->(b:Entity) WHERE $ownerId IS NULL OR a.ownerId = $ownerId
         RETURN a.id AS source, b.id AS target, r.weight AS weight ORDER BY r.id`,
        { ownerId: ownerId ?? null },
      ),
    ]);
    return {
      nodes: nodes.map((r) => r.get('n') as EntityRef),
      edges: edges.map((r) => r.toObject() as { source: string; target: string; weight: number }),
    };
  }

  async ping(): Promise<void> {
    await this.run('read', 'RETURN 1');
  }

  async close(): Promise<void> {
    await this.driver.close();
  }

  /** The Graph Data Science procedures, when the server has the plugin. */
  async hasGds(): Promise<boolean> {
    const records = await this.run(
      'read',
      "SHOW PROCEDURES YIELD name WHERE name = 'gds.pageRank.stream' RETURN count(*) AS n",
    );
    return Number(records[0]?.get('n') ?? 0) > 0;
  }

  /**
   * Expansion from the seeds `(s, score)`, one hop per subquery (depth is at most 3): each
   * hop keeps, per entity, the best relevance reaching it, instead of every path (a
   * variable-length pattern enumerates paths: about 150 ms at depth 3 on the benchmark
   * graph). The same answer as over all paths, because weights are at most 1 (see the
   * PostgreSQL store).
   */
  private async walk(seeds: string, params: Record<string, unknown>, options: ExpandOptions): Promise<RankedEntity[]> {
    const depth = checkedDepth(options.depth);
    const types = checkedRelationTypes(options.relationTypes ?? allRelationTypes).join('|');
    const hops = Array.from(
      { length: depth },
      (_, i) => `CALL {
         WITH hop${i}
         UNWIND hop${i} AS h
         WITH h.node AS from, h.relevance AS relevance
         MATCH (from)-[r:${types}]-(to:Entity)
         WITH to, max(relevance * r.weight) AS relevance
         RETURN collect({node: to, relevance: relevance}) AS hop${i + 1}
       }`,
    );
    const reached = Array.from(
      { length: depth + 1 },
      (_, i) => `[x IN hop${i} | {node: x.node, relevance: x.relevance, distance: ${i}}]`,
    ).join(' + ');
    const records = await this.run(
      'read',
      `${seeds}
       WITH s, max(score) AS relevance
       WITH collect({node: s, relevance: relevance}) AS hop0
       ${hops.join('\n       ')}
       UNWIND ${reached} AS x
       WITH x.node AS n, min(x.distance) AS distance, max(x.relevance) AS relevance
       WHERE NOT n.id IN $exclude
       WITH n, distance, round(relevance, 9) AS relevance
       RETURN n.id AS id, n.name AS name, n.type AS type, distance, relevance
       ORDER BY relevance DESC, distance ASC, name ASC, id ASC
       LIMIT $limit`,
      { ...params, exclude: options.exclude ?? [], limit: neo4j.int(options.limit) },
    );
    return records.map((r) => r.toObject() as RankedEntity).sort(compareRanked);
  }

  /**
   * Runs Cypher in an auto-commit transaction, once: a read that fails is reported at once
   * (retrieval degrades rather than waiting out the driver's retries). Driver and server
   * failures become UNAVAILABLE.
   */
  async run(mode: 'read' | 'write', cypher: string, params: Record<string, unknown> = {}): Promise<Neo4jRecord[]> {
    const session = this.driver.session({
      defaultAccessMode: mode === 'read' ? neo4j.session.READ : neo4j.session.WRITE,
    });
    try {
      const result = await session.run(cypher, params, { timeout: QUERY_TIMEOUT_MS });
      return result.records;
    } catch (error) {
      throw unavailable(error);
    } finally {
      await session.close().catch(() => undefined);
    }
  }

  /**
   * One managed write transaction (retried by the driver on deadlocks), which names the
   * owners whose entities it changed; then the versions of the whole graph and of those
   * owners advance, after the commit, so that a reader never caches a result computed
   * before the change under the new version. A failed advance does not fail the committed
   * write: cached results then live out their time limit.
   */
  private async write<T>(
    work: (tx: ManagedTransaction) => Promise<{ value: T; owners: readonly string[] }>,
  ): Promise<T> {
    const session = this.driver.session({ defaultAccessMode: neo4j.session.WRITE });
    try {
      const { value, owners } = await executeWriteAgainOnDeletedNode(session, work);
      const scopes = versionScopes(owners);
      await session
        .executeWrite((tx) =>
          tx.run('UNWIND $scopes AS scope MERGE (m:GraphMeta {id: scope}) SET m.version = coalesce(m.version, 0) + 1', {
            scopes,
          }),
        )
        .catch(() => undefined);
      return value;
    } catch (error) {
      throw unavailable(error);
    } finally {
      await session.close().catch(() => undefined);
    }
  }
}

/**
 * `executeWrite`, run again when a node the transaction matched was deleted by another
 * transaction before it could lock it (Neo4j reads committed data without locks: an
 * ingestion can match an entity that a concurrent document delete then removes as an
 * orphan). The driver retries only transient errors; this one means "read again", and the
 * second run creates the entity anew. Every write here is safe to run again.
 */
async function executeWriteAgainOnDeletedNode<T>(
  session: Session,
  work: (tx: ManagedTransaction) => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await session.executeWrite(work);
    } catch (error) {
      if (attempt >= 5 || (error as { code?: string }).code !== 'Neo.ClientError.Statement.EntityNotFound') throw error;
    }
  }
}

function unavailable(error: unknown): AppError {
  if (error instanceof AppError) return error;
  return new AppError('UNAVAILABLE', { message: 'graph store is unavailable', cause: error });
}

/** Takes a document's CONTAINS and its share of CO_OCCURS counts out; returns the entities it contained. */
async function removeContribution(tx: ManagedTransaction, documentId: string): Promise<string[]> {
  await tx.run(
    `MATCH (:Document {id: $documentId})-[:CONTAINS]->(:Entity)-[r:CO_OCCURS]-(:Entity)
     WHERE $documentId IN r.documents
     WITH DISTINCT r
     SET r._lock = true
     REMOVE r._lock
     WITH r, [i IN range(0, size(r.documents) - 1) WHERE r.documents[i] <> $documentId] AS keep
     WITH r, [i IN keep | r.documents[i]] AS documents, [i IN keep | r.documentFrequencies[i]] AS counts
     WITH r, documents, counts, reduce(s = 0, c IN counts | s + c) AS frequency
     WITH r, documents, counts, frequency, toFloat(frequency) / (frequency + 1) AS strength
     SET r.documents = documents, r.documentFrequencies = counts, r.frequency = frequency, r.strength = strength, r.weight = strength
     WITH r WHERE size(r.documents) = 0
     DELETE r`,
    { documentId },
  );
  const result = await tx.run(
    `MATCH (:Document {id: $documentId})-[c:CONTAINS]->(e:Entity)
     DELETE c
     RETURN collect(e.id) AS ids`,
    { documentId },
  );
  return (result.records[0]?.get('ids') as string[] | undefined) ?? [];
}

/** Deletes extracted entities among `ids` that no document contains any more. */
async function removeOrphans(tx: ManagedTransaction, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  // The write lock (SET) comes before the check, so an ingestion linking one of them
  // concurrently is either seen by the check or waits and creates the entity anew.
  await tx.run(
    `UNWIND $ids AS id
     MATCH (e:Entity {id: id})
     SET e._lock = true
     REMOVE e._lock
     WITH e WHERE NOT coalesce(e.manual, false) AND NOT EXISTS { (e)<-[:CONTAINS]-(:Document) }
     DETACH DELETE e`,
    { ids },
  );
}
