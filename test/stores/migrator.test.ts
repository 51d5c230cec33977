import type pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  assertMigrated,
  type Migration,
  migrate,
  migrateDown,
  readFunctions,
  readMigrations,
} from '../../src/stores/postgres/migrator.js';
import { freshDatabase, testPool } from '../helpers/database.js';
import { testLogger } from '../helpers/env.js';

const pools: pg.Pool[] = [];
async function freshPool(): Promise<pg.Pool> {
  const pool = testPool(await freshDatabase(), 4);
  pools.push(pool);
  return pool;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.end()));
});

const tables = async (pool: pg.Pool) =>
  (
    await pool.query<{ tablename: string }>("select tablename from pg_tables where schemaname = 'public' order by 1")
  ).rows.map((r) => r.tablename);

describe('migrator (real PostgreSQL)', () => {
  it('reads the numbered files in order, without gaps', async () => {
    const migrations = await readMigrations();
    expect(migrations.length).toBeGreaterThan(0);
    migrations.forEach((m, i) => expect(m.version).toBe(i + 1));
  });

  it('applies every migration once, and a second run applies nothing', async () => {
    const pool = await freshPool();
    const all = await readMigrations();
    expect(await migrate(pool, testLogger())).toBe(all.length);
    expect(await migrate(pool, testLogger())).toBe(0);
    expect(await tables(pool)).toContain('graph_entities');
    const ledger = await pool.query('select version from schema_migrations order by version');
    expect(ledger.rows.map((r: { version: number }) => r.version)).toEqual(all.map((m) => m.version));
  });

  it('applies every repeatable function once the schema is at the newest level, and again when its text changes', async () => {
    const pool = await freshPool();
    const functions = await readFunctions();
    expect(functions.map((f) => f.name)).toContain('vh_append_messages');
    const ledger = async () =>
      new Map(
        (await pool.query<{ name: string; checksum: string }>('select name, checksum from schema_functions')).rows.map(
          (r) => [r.name, r.checksum],
        ),
      );
    // Stopping short of the newest migration (a restore to an older backup's level): no functions yet.
    const all = await readMigrations();
    await migrate(pool, testLogger(), all.slice(0, -1));
    expect(await ledger().catch(() => new Map())).toEqual(new Map());
    await migrate(pool, testLogger());
    expect(await ledger()).toEqual(new Map(functions.map((f) => [f.name, f.checksum])));
    await assertMigrated(pool);
    // What the database runs is the file's definition, not an older migration's.
    const source = await pool.query<{ src: string }>(
      "select prosrc as src from pg_proc where proname = 'vh_append_messages'",
    );
    const file = functions.find((f) => f.name === 'vh_append_messages')?.sql ?? '';
    expect(file).toContain((source.rows[0]?.src ?? 'missing').trim());
    // A database whose function differs from the code's: refused without migrating, applied again by migrate.
    await pool.query("update schema_functions set checksum = 'an older text' where name = 'vh_append_messages'");
    await expect(assertMigrated(pool)).rejects.toThrow(/functions vh_append_messages differ/);
    expect(await migrate(pool, testLogger())).toBe(0);
    expect(await ledger()).toEqual(new Map(functions.map((f) => [f.name, f.checksum])));
    await assertMigrated(pool);
  });

  it('migrates once when several nodes start at the same moment', async () => {
    const pool = await freshPool();
    const results = await Promise.all([1, 2, 3].map(() => migrate(pool, testLogger())));
    expect(results.reduce((a, b) => a + b, 0)).toBe((await readMigrations()).length);
  });

  it('refuses a database that is newer than the code', async () => {
    const pool = await freshPool();
    await migrate(pool, testLogger());
    await pool.query("insert into schema_migrations (version, name, checksum) values (9999, 'from_the_future', 'x')");
    await expect(migrate(pool, testLogger())).rejects.toThrow(/newer than the code/);
  });

  it('refuses a migration edited after it was applied', async () => {
    const pool = await freshPool();
    const all = await readMigrations();
    await migrate(pool, testLogger(), all);
    const edited: Migration[] = all.map((m, i) => (i === 0 ? { ...m, checksum: 'edited' } : m));
    await expect(migrate(pool, testLogger(), edited)).rejects.toThrow(/edited after it was applied/);
  });

  it('rolls a failed migration back whole', async () => {
    const pool = await freshPool();
    const all = await readMigrations();
    const broken: Migration = {
      version: all.length + 1,
      name: 'broken',
      up: 'create table half_done (id int); select * from no_such_table;',
      down: undefined,
      checksum: 'b',
    };
    await expect(migrate(pool, testLogger(), [...all, broken])).rejects.toThrow(/broken/);
    expect(await tables(pool)).not.toContain('half_done');
    expect((await pool.query('select max(version) as v from schema_migrations')).rows[0].v).toBe(all.length);
  });

  it('lets a node that does not migrate start only on a database at exactly its version', async () => {
    const pool = await freshPool();
    const all = await readMigrations();
    await expect(assertMigrated(pool, all)).rejects.toThrow(/npm run migrate/);
    await migrate(pool, testLogger(), all.slice(0, -1));
    await expect(assertMigrated(pool, all)).rejects.toThrow(/needs/);
    await migrate(pool, testLogger(), all);
    await expect(assertMigrated(pool, all)).resolves.toBeUndefined();
    await expect(assertMigrated(pool, all.slice(0, -1))).rejects.toThrow(/newer than the code/);
  });

  it('reverts the newest migration with its .down.sql (development)', async () => {
    const pool = await freshPool();
    const all = await readMigrations();
    await migrate(pool, testLogger(), all);
    expect(await migrateDown(pool, testLogger(), all.length, all)).toBe(all.length);
    expect(await tables(pool)).toEqual(['schema_functions', 'schema_migrations']);
    expect(await migrate(pool, testLogger(), all)).toBe(all.length);
  });
});
