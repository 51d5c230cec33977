import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import { packageRoot } from '../../util/package-root.js';
import { unbounded } from './pool.js';

/** One numbered migration file pair: `NNNN_name.sql` and optionally `NNNN_name.down.sql`. */
export interface Migration {
  version: number;
  name: string;
  up: string;
  down: string | undefined;
  checksum: string;
}

/**
 * One repeatable file of `migrations/functions/`: a whole `create or replace` definition of
 * a SQL function, applied after the numbered migrations whenever its text changed. A
 * function is defined in one place and changed by editing it, instead of being restated
 * whole in each numbered migration that alters it.
 */
export interface RepeatableFunction {
  /** The file name without `.sql`. */
  name: string;
  sql: string;
  checksum: string;
}

/** Arbitrary constant shared by every node: the advisory lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 7_253_120_001;

const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** Reads the append-only migrations folder, ordered by version. */
export async function readMigrations(dir = path.join(packageRoot(), 'migrations')): Promise<Migration[]> {
  const files = await readdir(dir);
  const migrations: Migration[] = [];
  for (const file of files.sort()) {
    const match = FILE_PATTERN.exec(file);
    if (match === null) continue;
    const [, version, name] = match as unknown as [string, string, string];
    const up = await readFile(path.join(dir, file), 'utf8');
    const downFile = path.join(dir, file.replace(/\.sql$/, '.down.sql'));
    const down = await readFile(downFile, 'utf8').catch(() => undefined);
    migrations.push({
      version: Number(version),
      name,
      up,
      down,
      checksum: createHash('sha256').update(up).digest('hex'),
    });
  }
  migrations.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new Error(
        `migrations must be numbered 0001, 0002, ... without gaps (found ${m.version} at position ${i + 1})`,
      );
  });
  return migrations;
}

const FUNCTION_PATTERN = /^([a-z0-9_]+)\.sql$/;

/** Reads `migrations/functions/`, in name order (none when the folder is absent). */
export async function readFunctions(
  dir = path.join(packageRoot(), 'migrations', 'functions'),
): Promise<RepeatableFunction[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  const functions: RepeatableFunction[] = [];
  for (const file of files.sort()) {
    const match = FUNCTION_PATTERN.exec(file);
    if (match === null) continue;
    const sql = await readFile(path.join(dir, file), 'utf8');
    functions.push({ name: match[1] as string, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return functions;
}

/**
 * Applies pending migrations in order, each in its own transaction, under a session-level
 * advisory lock so that nodes starting together migrate once. Refuses a database whose
 * ledger is ahead of the code, or whose applied migrations were edited afterwards. Once the
 * database is at the newest migration the code knows, the repeatable functions whose text
 * changed are applied too (they describe the newest schema, so not when `migrations` stops
 * short of it, as a restore to an older backup's level does).
 */
export async function migrate(pool: pg.Pool, logger: Logger, migrations?: Migration[]): Promise<number> {
  const newest = await readMigrations();
  const all = migrations ?? newest;
  const client = await pool.connect();
  try {
    // Migrations may take long and wait for other nodes' migrations: no deadlines on this
    // session, which is destroyed at the end rather than returned to the pool.
    await client.query(unbounded('set statement_timeout = 0; set lock_timeout = 0'));
    await client.query(unbounded('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]));
    await client.query(`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`);
    const applied = await client.query<{ version: number; name: string; checksum: string }>(
      'select version, name, checksum from schema_migrations order by version',
    );
    const known = new Map(all.map((m) => [m.version, m]));
    for (const row of applied.rows) {
      const migration = known.get(row.version);
      if (migration === undefined) {
        throw new Error(
          `the database has migration ${row.version} (${row.name}) which this code does not know: it is newer than the code; refusing to start`,
        );
      }
      if (migration.checksum !== row.checksum) {
        throw new Error(
          `migration ${row.version} (${row.name}) was edited after it was applied; migrations are append-only`,
        );
      }
    }
    const done = new Set(applied.rows.map((r) => r.version));
    let count = 0;
    for (const migration of all) {
      if (done.has(migration.version)) continue;
      await client.query('begin');
      try {
        await client.query(unbounded(migration.up));
        await client.query('insert into schema_migrations (version, name, checksum) values ($1, $2, $3)', [
          migration.version,
          migration.name,
          migration.checksum,
        ]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(`migration ${migration.version} (${migration.name}) failed`, { cause: error });
      }
      logger.info({ version: migration.version, name: migration.name }, 'migration applied');
      count++;
    }
    if (all.at(-1)?.version === newest.at(-1)?.version) await applyFunctions(client, logger);
    return count;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release(true);
  }
}

/** The ledger of repeatable functions: which text of each is in the database. */
const FUNCTION_LEDGER = `create table if not exists schema_functions (
  name text primary key,
  checksum text not null,
  applied_at timestamptz not null default now()
)`;

/** Applies each repeatable function whose text differs from the one the ledger records. */
async function applyFunctions(client: pg.PoolClient, logger: Logger): Promise<void> {
  await client.query(FUNCTION_LEDGER);
  const applied = await client.query<{ name: string; checksum: string }>('select name, checksum from schema_functions');
  const known = new Map(applied.rows.map((row) => [row.name, row.checksum]));
  for (const fn of await readFunctions()) {
    if (known.get(fn.name) === fn.checksum) continue;
    await client.query('begin');
    try {
      await client.query(unbounded(fn.sql));
      await client.query(
        `insert into schema_functions (name, checksum) values ($1, $2)
         on conflict (name) do update set checksum = excluded.checksum, applied_at = now()`,
        [fn.name, fn.checksum],
      );
      await client.query('commit');
    } catch (error) {
      await client.query('rollback');
      throw new Error(`function ${fn.name} (migrations/functions/${fn.name}.sql) failed`, { cause: error });
    }
    logger.info({ function: fn.name }, 'function applied');
  }
}

/**
 * For nodes started with MIGRATE_ON_START=false: refuses a database that is behind or
 * ahead of the code instead of failing later on a missing or unknown table.
 */
export async function assertMigrated(pool: pg.Pool, migrations?: Migration[]): Promise<void> {
  const all = migrations ?? (await readMigrations());
  const latest = all[all.length - 1]?.version ?? 0;
  let applied = 0;
  try {
    const result = await pool.query<{ v: number | null }>('select max(version) as v from schema_migrations');
    applied = result.rows[0]?.v ?? 0;
  } catch (error) {
    if ((error as { code?: string }).code !== '42P01') throw error; // 42P01: no ledger yet
  }
  if (applied < latest) {
    throw new Error(
      `the database is at migration ${applied} but the code needs ${latest}: run 'npm run migrate' or set MIGRATE_ON_START=true`,
    );
  }
  if (applied > latest) {
    throw new Error(`the database is at migration ${applied}, newer than the code (${latest}); refusing to start`);
  }
  const recorded = await pool
    .query<{ name: string; checksum: string }>('select name, checksum from schema_functions')
    .then((result) => new Map(result.rows.map((row) => [row.name, row.checksum])))
    .catch((error: unknown) => {
      if ((error as { code?: string }).code === '42P01') return new Map<string, string>();
      throw error;
    });
  const stale = (await readFunctions()).filter((fn) => recorded.get(fn.name) !== fn.checksum).map((fn) => fn.name);
  if (stale.length > 0) {
    throw new Error(
      `the database's functions ${stale.join(', ')} differ from the code's: run 'npm run migrate' or set MIGRATE_ON_START=true`,
    );
  }
}

/** Development only: reverts the newest `steps` migrations using their `.down.sql` files. */
export async function migrateDown(pool: pg.Pool, logger: Logger, steps = 1, migrations?: Migration[]): Promise<number> {
  const all = migrations ?? (await readMigrations());
  const client = await pool.connect();
  try {
    await client.query(unbounded('set statement_timeout = 0; set lock_timeout = 0'));
    await client.query(unbounded('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]));
    const applied = await client.query<{ version: number }>(
      'select version from schema_migrations order by version desc limit $1',
      [steps],
    );
    let count = 0;
    for (const { version } of applied.rows) {
      const migration = all.find((m) => m.version === version);
      if (migration?.down === undefined) throw new Error(`migration ${version} has no .down.sql`);
      await client.query('begin');
      try {
        await client.query(unbounded(migration.down));
        await client.query('delete from schema_migrations where version = $1', [version]);
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw error;
      }
      logger.info({ version, name: migration.name }, 'migration reverted');
      count++;
    }
    // The down files restore earlier definitions: the next migration up applies the repeatable ones again.
    if (count > 0) await client.query('delete from schema_functions').catch(() => undefined);
    return count;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release(true);
  }
}
