import neo4j, { type Driver } from 'neo4j-driver';
import { AppError } from '../../errors/app-error.js';
import type { GraphEntity, GraphStore } from './graph-store.js';

/** Connection settings of the Neo4j adapter. */
export interface Neo4jGraphStoreOptions {
  uri: string;
  user: string;
  password: string | undefined;
}

/** The knowledge graph in Neo4j over Bolt. Every query is parameterised. */
export class Neo4jGraphStore implements GraphStore {
  private readonly driver: Driver;

  constructor(options: Neo4jGraphStoreOptions) {
    this.driver = neo4j.driver(options.uri, neo4j.auth.basic(options.user, options.password ?? ''), {
      connectionTimeout: 5_000,
      maxTransactionRetryTime: 5_000,
      disableLosslessIntegers: true,
    });
  }

  async init(): Promise<void> {
    await this.run('write', 'CREATE CONSTRAINT entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE');
    await this.run('write', 'CREATE INDEX entity_name IF NOT EXISTS FOR (e:Entity) ON (e.name)');
  }

  async upsertEntities(entities: readonly GraphEntity[]): Promise<void> {
    if (entities.length === 0) return;
    await this.run(
      'write',
      `UNWIND $entities AS e
       MERGE (n:Entity {id: e.id})
       SET n.name = e.name, n.type = e.type, n.properties = e.properties, n.updated_at = datetime()`,
      { entities: entities.map((e) => ({ ...e, properties: JSON.stringify(e.properties) })) },
    );
  }

  async getEntity(id: string): Promise<GraphEntity | undefined> {
    const records = await this.run(
      'read',
      'MATCH (n:Entity {id: $id}) RETURN n.id AS id, n.name AS name, n.type AS type, n.properties AS properties',
      { id },
    );
    const record = records[0];
    if (record === undefined) return undefined;
    return {
      id: String(record.get('id')),
      name: String(record.get('name')),
      type: String(record.get('type')),
      properties: JSON.parse(String(record.get('properties') ?? '{}')) as Record<string, unknown>,
    };
  }

  async deleteEntity(id: string): Promise<void> {
    await this.run('write', 'MATCH (n:Entity {id: $id}) DETACH DELETE n', { id });
  }

  async ping(): Promise<void> {
    await this.run('read', 'RETURN 1');
  }

  async close(): Promise<void> {
    await this.driver.close();
  }

  private async run(mode: 'read' | 'write', cypher: string, params: Record<string, unknown> = {}) {
    try {
      const result = await this.driver.executeQuery(cypher, params, {
        routing: mode === 'read' ? neo4j.routing.READ : neo4j.routing.WRITE,
      });
      return result.records;
    } catch (error) {
      throw new AppError('UNAVAILABLE', { message: 'graph store is unavailable', cause: error });
    }
  }
}
