import pg from 'pg';
import type { Logger } from '../../logger.js';

/** Options of the PostgreSQL pool. */
export interface PoolOptions {
  /** Connection string. */
  url: string;
  /** Maximum connections of this node. Default 20. */
  max?: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
}

/**
 * The pool every repository uses. Idle-client errors (a server restart, a killed backend)
 * are logged instead of crashing the process; the pool replaces the client.
 */
export function createPool(options: PoolOptions, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 20,
    application_name: options.applicationName ?? 'voicehelper',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (error: Error & { code?: string }) => {
    // 57P01: the server is shutting down (expected when the embedded PostgreSQL stops).
    if (error.code === '57P01') logger.debug({ err: error }, 'idle PostgreSQL client closed by server shutdown');
    else logger.warn({ err: error }, 'idle PostgreSQL client failed');
  });
  return pool;
}

/** One round trip; used by readiness probes and smoke tests. */
export async function pingPool(pool: pg.Pool): Promise<void> {
  await pool.query('select 1');
}
