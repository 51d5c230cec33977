import pg from 'pg';
import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';

/** Options of the PostgreSQL pool. */
export interface PoolOptions {
  /** Connection string. */
  url: string;
  /** Maximum connections of this node (`DB_POOL_MAX` for nodes). */
  max: number;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /**
   * Server-side deadlines of every session, in ms (0: none): one statement, a lock wait, and
   * idling inside a transaction (`DB_STATEMENT_TIMEOUT_MS`, `DB_LOCK_TIMEOUT_MS`,
   * `DB_IDLE_IN_TRANSACTION_TIMEOUT_MS`).
   */
  timeouts: Config['database']['timeouts'];
}

/** A deadline for statements that may run long on purpose (migrations, partition moves). */
export const UNBOUNDED_MS = 24 * 60 * 60 * 1000;

/**
 * A query without the pool's deadlines: for work that may take long on purpose, on a
 * client whose session `statement_timeout` and `lock_timeout` were set to 0 (and that is
 * destroyed rather than returned to the pool afterwards).
 */
export function unbounded(text: string, values?: unknown[]): pg.QueryConfig {
  return { text, ...(values === undefined ? {} : { values }), query_timeout: UNBOUNDED_MS } as pg.QueryConfig;
}

/**
 * The pool every repository uses. Every call has a deadline: connecting (5 s), each
 * statement on the server (`statement_timeout`), each lock wait (`lock_timeout`), a
 * session left idle in a transaction, and on the client a read timeout a little past the
 * statement timeout, for a server that stopped answering altogether (TCP keepalive finds
 * dead peers). Idle-client errors (a server restart, a killed backend) are logged instead
 * of crashing the process; the pool replaces the client.
 */
export function createPool(options: PoolOptions, logger: Logger): pg.Pool {
  const statementMs = options.timeouts.statementMs;
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max,
    application_name: options.applicationName ?? 'voicehelper',
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    statement_timeout: statementMs,
    lock_timeout: options.timeouts.lockMs,
    idle_in_transaction_session_timeout: options.timeouts.idleInTransactionMs,
    ...(statementMs > 0 ? { query_timeout: statementMs + 5_000 } : {}),
  });
  pool.on('error', (error: Error & { code?: string }) => {
    // 57P01: the server is shutting down (expected when the embedded PostgreSQL stops).
    if (error.code === '57P01') logger.debug({ err: error }, 'idle PostgreSQL client closed by server shutdown');
    else logger.warn({ err: error }, 'idle PostgreSQL client failed');
  });
  // The pool listens for errors on idle clients only. A client checked out between two
  // statements (inside a transaction, a sync holding its client) that the server ends
  // (a restart's 57P01) emits `error` with nobody listening, which ended the process.
  // Its holder sees the failure on its next statement, and the pool drops the client on
  // release (it is no longer queryable), so the event needs only a note.
  pool.on('connect', (client) =>
    client.on('error', (error: Error & { code?: string }) =>
      logger.debug({ err: error }, 'PostgreSQL connection of a checked-out client ended'),
    ),
  );
  return pool;
}

/** One round trip; used by readiness probes and smoke tests. */
export async function pingPool(pool: pg.Pool): Promise<void> {
  await pool.query('select 1');
}
