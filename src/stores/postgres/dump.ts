import { type Readable, Transform } from 'node:stream';
import type pg from 'pg';
import { escapeIdentifier } from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { unbounded } from './pool.js';
import { withTransaction } from './transaction.js';

/**
 * Tables a backup leaves out: the migration ledger (the manifest names the level, and the
 * restore migrates), cluster markers (facts of the machines that ran the cluster, such as
 * which object directory they share), and the embedded vector index's rows (vectors are
 * rebuilt from the chunks on restore, whatever the vector store: see `rebuildVectors`).
 */
const LEFT_OUT = new Set([
  'schema_migrations',
  'schema_functions',
  'cluster_markers',
  'vector_chunks',
  'vector_changes',
  // Registrations of the sockets connected when the backup was made: live state, gone with them.
  'agent_workers',
]);

/** A dump or load may take long: no deadlines inside its transaction (they reset at its end). */
export const UNLIMITED =
  'set local statement_timeout = 0; set local idle_in_transaction_session_timeout = 0; set local lock_timeout = 0';

/** What a snapshot holds besides the table files. */
export interface Snapshot {
  migration: number;
  /** Each table's columns, rows and file. */
  tables: Record<string, { columns: string[]; rows: number; file: string }>;
  bytes: number;
  /** Objects rows refer to: document files and audio messages' objects. */
  objectKeys: string[];
  /** Chunks of ready documents (what the vector index holds). */
  chunks: number;
}

/** Where a dump writes each table's COPY text (a backup's files). */
export interface TableWriter {
  /** Stores `source` under `name`; `through` may look at the plain bytes. */
  write(name: string, source: Readable, through: Transform[]): Promise<{ bytes: number }>;
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
  writer: TableWriter,
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
