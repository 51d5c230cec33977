import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { unbounded } from '../stores/postgres/pool.js';
import { withTransaction } from '../stores/postgres/transaction.js';
import type { BackupReader, BackupWriter } from './files.js';
import type { Manifest } from './manifest.js';

/**
 * Tables a backup leaves out: the migration ledger (the manifest names the level, and the
 * restore migrates), cluster markers (facts of the machines that ran the cluster, such as
 * which object directory they share), and the embedded vector index's rows (vectors are
 * rebuilt from the chunks on restore, whatever the vector store: see `rebuildVectors`).
 */
const LEFT_OUT = new Set(['schema_migrations', 'cluster_markers', 'vector_chunks', 'vector_changes']);

/** A dump or load may take long: no deadlines inside its transaction (they reset at its end). */
const UNLIMITED =
  'set local statement_timeout = 0; set local idle_in_transaction_session_timeout = 0; set local lock_timeout = 0';

/** What a snapshot holds besides the table files. */
export interface Snapshot {
  migration: number;
  tables: Manifest['parts']['postgres']['tables'];
  bytes: number;
  /** Objects rows refer to: document files and audio messages' objects. */
  objectKeys: string[];
  /** Chunks of ready documents (what the vector index holds). */
  chunks: number;
}

/** Counts lines of COPY text output: one per row (newlines inside values are escaped). */
function lineCounter(): { stream: Transform; count: () => number } {
  let lines = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) lines++;
      callback(null, chunk);
    },
  });
  return { stream, count: () => lines };
}

/** The plain tables of the schema (partitioned parents, not their partitions), parents before children. */
export async function tablesInLoadOrder(db: pg.Pool | pg.PoolClient): Promise<string[]> {
  const tables = await db.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by c.relname`,
  );
  const names = tables.rows.map((r) => r.name).filter((name) => !LEFT_OUT.has(name));
  const references = await db.query<{ child: string; parent: string }>(
    `select distinct ch.relname as child, pa.relname as parent from pg_constraint k
       join pg_class ch on ch.oid = k.conrelid join pg_class pa on pa.oid = k.confrelid
      where k.contype = 'f' and not ch.relispartition and ch.oid <> pa.oid`,
  );
  const parents = new Map<string, Set<string>>(names.map((n) => [n, new Set()]));
  for (const { child, parent } of references.rows)
    if (parents.has(child) && parents.has(parent)) parents.get(child)?.add(parent);
  const ordered: string[] = [];
  const visit = (name: string, path: Set<string>) => {
    if (ordered.includes(name)) return;
    if (path.has(name)) throw new Error(`foreign keys form a cycle through ${name}`);
    path.add(name);
    for (const parent of parents.get(name) ?? []) visit(parent, path);
    path.delete(name);
    ordered.push(name);
  };
  for (const name of names) visit(name, new Set());
  return ordered;
}

async function columnsOf(client: pg.PoolClient, table: string): Promise<string[]> {
  const result = await client.query<{ name: string }>(
    `select attname as name from pg_attribute where attrelid = $1::regclass and attnum > 0 and not attisdropped order by attnum`,
    [table],
  );
  return result.rows.map((r) => r.name);
}

/**
 * Dumps every table with COPY inside one REPEATABLE READ, READ ONLY transaction: all
 * tables are one consistent snapshot while the cluster keeps writing. Row counts, the
 * migration level and the objects to copy are read in the same snapshot.
 */
export async function dumpPostgres(
  pool: pg.Pool,
  writer: BackupWriter,
  onTables: (count: number) => void,
  onTable: (table: string, rows: number) => void,
): Promise<Snapshot> {
  return withTransaction(
    pool,
    async (client) => {
      await client.query(unbounded(UNLIMITED));
      const level = await client.query<{ v: number }>('select max(version) as v from schema_migrations');
      const snapshot: Snapshot = { migration: level.rows[0]?.v ?? 0, tables: {}, bytes: 0, objectKeys: [], chunks: 0 };
      const tables = await tablesInLoadOrder(client);
      onTables(tables.length);
      for (const table of tables) {
        const columns = await columnsOf(client, table);
        const list = columns.map((c) => escapeIdentifier(c)).join(', ');
        const source = client.query(copyTo(`COPY (SELECT ${list} FROM ${escapeIdentifier(table)}) TO STDOUT`));
        const counter = lineCounter();
        const file = `postgres/${table}.copy`;
        const written = await writer.write(file, source, [counter.stream]);
        snapshot.tables[table] = { columns, rows: counter.count(), file };
        snapshot.bytes += written.bytes;
        onTable(table, counter.count());
      }
      const keys = await client.query<{ key: string }>(
        `select file_path as key from documents where file_path is not null
         union select metadata->>'objectKey' from messages where content_type = 'audio' and metadata ? 'objectKey'
         order by key`,
      );
      snapshot.objectKeys = keys.rows.map((r) => r.key);
      const chunks = await client.query<{ n: string }>(
        "select count(*) as n from document_chunks c join documents d on d.id = c.document_id where d.status = 'ready'",
      );
      snapshot.chunks = Number(chunks.rows[0]?.n ?? 0);
      return snapshot;
    },
    'begin isolation level repeatable read read only',
  );
}

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
  manifest: Manifest,
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
  });
}
