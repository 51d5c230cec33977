import type pg from 'pg';
import type { GraphEntity, GraphStore } from './graph-store.js';

/**
 * The knowledge graph kept in PostgreSQL tables (migration 0001), for the embedded
 * default; graph algorithms run in process on what these tables hold.
 */
export class PostgresGraphStore implements GraphStore {
  constructor(private readonly pool: pg.Pool) {}

  async init(): Promise<void> {}

  async upsertEntities(entities: readonly GraphEntity[]): Promise<void> {
    if (entities.length === 0) return;
    await this.pool.query(
      `insert into graph_entities (id, name, type, properties)
       select * from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
       on conflict (id) do update
         set name = excluded.name, type = excluded.type, properties = excluded.properties, updated_at = now()`,
      [
        entities.map((e) => e.id),
        entities.map((e) => e.name),
        entities.map((e) => e.type),
        entities.map((e) => JSON.stringify(e.properties)),
      ],
    );
  }

  async getEntity(id: string): Promise<GraphEntity | undefined> {
    const result = await this.pool.query<GraphEntity>(
      'select id, name, type, properties from graph_entities where id = $1',
      [id],
    );
    return result.rows[0];
  }

  async deleteEntity(id: string): Promise<void> {
    await this.pool.query('delete from graph_entities where id = $1', [id]);
  }

  async ping(): Promise<void> {
    await this.pool.query('select 1');
  }

  async close(): Promise<void> {}
}
