import type pg from 'pg';
import { isDependencyFailure } from '../../errors/dependency-failure.js';

/**
 * Ends a transaction that failed and gives its client back. When the failure was the
 * connection's (a timeout, a lost server), a ROLLBACK would only wait out another timeout:
 * the client is destroyed instead, and the server rolls back when it goes. Otherwise the
 * transaction is rolled back and the healthy client returned to the pool.
 */
export async function abandon(client: pg.PoolClient, error: unknown): Promise<void> {
  if (isDependencyFailure(error)) {
    client.release(error instanceof Error ? error : true);
    return;
  }
  try {
    await client.query('rollback');
    client.release();
  } catch (rollbackError) {
    client.release(rollbackError instanceof Error ? rollbackError : true);
  }
}

/**
 * Runs `work` in one transaction on a pooled client: committed if it resolves, rolled back
 * if it throws. `begin` may name an isolation level or READ ONLY.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  begin = 'begin',
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('commit');
    client.release();
    return result;
  } catch (error) {
    await abandon(client, error);
    throw error;
  }
}
