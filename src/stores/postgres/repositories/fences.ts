import type pg from 'pg';

/** PostgreSQL's record of the newest fencing token each lock-guarded resource accepted (table `fencing_tokens`). */
export class FenceRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The highest token recorded for a resource, 0 when none (the floor of a restarted counter). */
  async floor(resource: string): Promise<number> {
    const result = await this.pool.query<{ token: string }>('select token from fencing_tokens where resource = $1', [
      resource,
    ]);
    return Number(result.rows[0]?.token ?? 0);
  }

  /** Every resource with a recorded token. */
  async resources(): Promise<string[]> {
    const result = await this.pool.query<{ resource: string }>('select resource from fencing_tokens order by resource');
    return result.rows.map((r) => r.resource);
  }
}
