import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { tablesInLoadOrder, UNLIMITED } from '../stores/postgres/dump.js';
import { unbounded } from '../stores/postgres/pool.js';
import { withTransaction } from '../stores/postgres/transaction.js';
import type { BackupReader } from './files.js';
import type { StoredManifest } from './manifest.js';

/** Tables among the backup's that hold rows in this database (a restore goes into empty ones only). */
export async function nonEmptyTables(pool: pg.Pool, tables: readonly string[]): Promise<string[]> {
  const existing = await pool.query<{ name: string }>(
    "select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relname = any($1::text[])",
    [tables],
  );
  const found: string[] = [];
  for (const { name } of existing.rows) {
    const rows = await pool.query(`select 1 from ${escapeIdentifier(name)} limit 1`);
    if ((rows.rowCount ?? 0) > 0) found.push(name);
  }
  return found.sort();
}

/**
 * Loads every table of the backup with COPY, parents first, in one transaction: a failure
 * leaves the database as it was. Columns are named, so a schema that gained columns since
 * (later migrations) takes the rows with its defaults.
 */
export async function loadPostgres(
  pool: pg.Pool,
  reader: BackupReader,
  manifest: StoredManifest,
  onTable: (table: string) => void,
): Promise<void> {
  const files = new Map(manifest.files.map((f) => [f.name, f]));
  const order = await tablesInLoadOrder(pool);
  const tables = manifest.parts.postgres.tables;
  const unknown = Object.keys(tables).filter((t) => !order.includes(t));
  if (unknown.length > 0) throw new Error(`the backup has tables this schema lacks: ${unknown.join(', ')}`);
  await withTransaction(pool, async (client) => {
    await client.query(unbounded(UNLIMITED));
    for (const table of order) {
      const entry = tables[table];
      if (entry === undefined) continue;
      const file = files.get(entry.file);
      if (file === undefined) throw new Error(`the manifest lists no file ${entry.file}`);
      const list = entry.columns.map((c) => escapeIdentifier(c)).join(', ');
      const sink = client.query(copyFrom(`COPY ${escapeIdentifier(table)} (${list}) FROM STDIN`));
      await pipeline(await reader.open(file), sink);
      onTable(table);
    }
    // The workers that had sessions are gone with their sockets (agent_workers is not backed
    // up): every restored session that names an agent waits for a worker of today's.
    if (order.includes('agent_assignments'))
      await client.query(
        'update agent_assignments set worker_id = null, released_by = null, waiting_since = now() where worker_id is not null or released_by is not null',
      );
  });
}
