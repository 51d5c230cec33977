import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { loadConfig } from '../src/config/load.js';
import type { Logger } from '../src/logger.js';
import { startEmbeddedPostgres } from '../src/stores/postgres/embedded-postgres.js';
import { migrate } from '../src/stores/postgres/migrator.js';
import { createPool } from '../src/stores/postgres/pool.js';

/** The database of one benchmark run. */
export interface BenchDatabase {
  pool: pg.Pool;
  /** `from DATABASE_URL` or `embedded PostgreSQL (fsync on)`, for the report. */
  description: string;
  /** Ends the pool, and stops and removes the embedded server if there is one. */
  close(): Promise<void>;
}

/** A migrated pool on DATABASE_URL, or on an embedded PostgreSQL made for this run on `port`. */
export async function benchDatabase(port: number, poolMax: number, logger: Logger): Promise<BenchDatabase> {
  let url = process.env['DATABASE_URL'];
  let stop: (() => Promise<void>) | undefined;
  let dir: string | undefined;
  if (url === undefined) {
    dir = mkdtempSync(path.join(tmpdir(), 'vh-bench-'));
    chmodSync(dir, 0o755);
    const embedded = await startEmbeddedPostgres(
      { dir: path.join(dir, 'postgres'), port, password: 'bench-only' },
      logger,
    );
    url = embedded.url;
    stop = () => embedded.stop();
  }
  // A node's default deadlines (DB_*_TIMEOUT_MS).
  const pool = createPool({ url, max: poolMax, timeouts: loadConfig({}).database.timeouts }, logger);
  const close = async () => {
    await pool.end();
    await stop?.();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  };
  try {
    await migrate(pool, logger);
  } catch (error) {
    await close();
    throw error;
  }
  return { pool, description: stop === undefined ? 'from DATABASE_URL' : 'embedded PostgreSQL (fsync on)', close };
}
