import type pg from 'pg';
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { Logger } from '../../logger.js';
import { acceptFencingToken } from '../locks/fencing.js';
import type { LockManager } from '../locks/lock-manager.js';
import { unbounded } from './pool.js';

/** A monthly-partitioned table and the unique keys each of its partitions must carry. */
interface PartitionedTable {
  name: 'messages' | 'audit_logs';
  /** Column lists of per-partition unique indexes. */
  uniqueKeys: readonly (readonly string[])[];
}

/** The partitioned tables of migration 0002. Names are constants: no DDL text comes from input. */
export const PARTITIONED_TABLES: readonly PartitionedTable[] = [
  {
    name: 'messages',
    uniqueKeys: [
      ['session_id', 'seq'],
      ['session_id', 'client_msg_id', 'sender_id'],
    ],
  },
  { name: 'audit_logs', uniqueKeys: [] },
];

/** Options of partition maintenance. */
export interface PartitionOptions {
  /** Months after the current one to create ahead (`PARTITION_MONTHS_AHEAD`). */
  monthsAhead: number;
  /** Keep this many whole months before the current one; 0 keeps everything (`PARTITION_RETENTION_MONTHS`). */
  retentionMonths: number;
}

/** What one maintenance run did. */
export interface MaintenanceReport {
  /** False when another node held the maintenance lock (it did the work). */
  ran: boolean;
  created: string[];
  /** Rows moved out of DEFAULT partitions into newly created ones. */
  movedRows: number;
  dropped: string[];
}

/** Name of the cluster lock (and fenced resource) of scheduled maintenance. */
const MAINTENANCE_RESOURCE = 'partition-maintenance';

/** Constant shared by every node: only one runs maintenance at a time. */
const MAINTENANCE_LOCK_KEY = 7_253_120_002;

/** First instant (UTC) of the month `offset` months after the month of `date`. */
export function monthStart(date: Date, offset = 0): Date {
  return new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + offset, 1));
}

/** `messages_p2026_11` for the month starting at `start`. */
export function partitionName(table: string, start: Date): string {
  const month = String(start.getUTCMonth() + 1).padStart(2, '0');
  return `${table}_p${start.getUTCFullYear()}_${month}`;
}

const NAME_PATTERN = /^(?<table>[a-z_]+)_p(?<year>\d{4})_(?<month>\d{2})$/;

/**
 * Creates monthly partitions ahead of time, moves rows that fell into a DEFAULT partition
 * into their month once it exists, and drops months past retention. Runs in one
 * transaction under an advisory lock that only one node gets; the others skip.
 */
export async function maintainPartitions(
  pool: pg.Pool,
  options: PartitionOptions,
  logger: Logger,
  now: Date = new Date(),
  /** When run under a cluster lock: its fencing token, checked before any change. */
  fencingToken?: number,
): Promise<MaintenanceReport> {
  const report: MaintenanceReport = { ran: false, created: [], movedRows: 0, dropped: [] };
  const client = await pool.connect();
  try {
    // Moving a month of rows out of DEFAULT may take long: no deadlines in this transaction
    // (the client is destroyed afterwards rather than returned to the pool).
    await client.query('begin');
    await client.query(unbounded('set local statement_timeout = 0; set local lock_timeout = 0'));
    const locked = await client.query<{ ok: boolean }>('select pg_try_advisory_xact_lock($1) as ok', [
      MAINTENANCE_LOCK_KEY,
    ]);
    if (locked.rows[0]?.ok !== true) {
      await client.query('rollback');
      return report;
    }
    report.ran = true;
    if (fencingToken !== undefined) await acceptFencingToken(client, MAINTENANCE_RESOURCE, fencingToken);
    for (const table of PARTITIONED_TABLES) {
      const existing = await listPartitions(client, table.name);
      // Months that already hold rows in DEFAULT get a partition too, so rows written
      // with a far-future or past timestamp find their place.
      const wanted = new Set<number>();
      for (let offset = 0; offset <= options.monthsAhead; offset++) wanted.add(monthStart(now, offset).getTime());
      const stray = await client.query<{ month: Date }>(
        `select distinct date_trunc('month', created_at at time zone 'UTC') at time zone 'UTC' as month
           from ${escapeIdentifier(`${table.name}_default`)}`,
      );
      for (const row of stray.rows) wanted.add(row.month.getTime());

      for (const time of [...wanted].sort((a, b) => a - b)) {
        const start = new Date(time);
        const name = partitionName(table.name, start);
        if (existing.has(name)) continue;
        report.movedRows += await createPartition(client, table, start);
        report.created.push(name);
      }

      if (options.retentionMonths > 0) {
        const cutoff = monthStart(now, -options.retentionMonths).getTime();
        for (const [name, start] of await listPartitions(client, table.name)) {
          if (start.getTime() >= cutoff) continue;
          await client.query(`alter table ${escapeIdentifier(table.name)} detach partition ${escapeIdentifier(name)}`);
          await client.query(`drop table ${escapeIdentifier(name)}`);
          report.dropped.push(name);
        }
      }
    }
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => undefined);
    throw error;
  } finally {
    client.release(true);
  }
  if (report.created.length > 0 || report.dropped.length > 0) {
    logger.info(report, 'partition maintenance');
  }
  return report;
}

async function listPartitions(client: pg.PoolClient, table: string): Promise<Map<string, Date>> {
  const result = await client.query<{ name: string }>(
    `select c.relname as name
       from pg_inherits i
       join pg_class c on c.oid = i.inhrelid
       join pg_class p on p.oid = i.inhparent
      where p.relname = $1`,
    [table],
  );
  const partitions = new Map<string, Date>();
  for (const { name } of result.rows) {
    const match = NAME_PATTERN.exec(name);
    if (match?.groups?.['table'] !== table) continue;
    partitions.set(name, new Date(Date.UTC(Number(match.groups['year']), Number(match.groups['month']) - 1, 1)));
  }
  return partitions;
}

/**
 * Creates the partition for the month starting at `start` as a plain table, moves that
 * month's rows out of DEFAULT into it, and attaches it; returns the number of rows moved.
 */
async function createPartition(client: pg.PoolClient, table: PartitionedTable, start: Date): Promise<number> {
  const end = monthStart(start, 1);
  const name = partitionName(table.name, start);
  const parent = escapeIdentifier(table.name);
  const part = escapeIdentifier(name);
  const fallback = escapeIdentifier(`${table.name}_default`);
  const from = escapeLiteral(start.toISOString());
  const to = escapeLiteral(end.toISOString());
  await client.query(`create table ${part} (like ${parent} including defaults including constraints)`);
  for (const columns of table.uniqueKeys) {
    const index = escapeIdentifier(`${name}_${columns.join('_')}_key`);
    await client.query(
      `create unique index ${index} on ${part} (${columns.map((c) => escapeIdentifier(c)).join(', ')})`,
    );
  }
  const moved = await client.query(
    unbounded(`with moved as (delete from ${fallback} where created_at >= ${from} and created_at < ${to} returning *)
     insert into ${part} select * from moved`),
  );
  await client.query(`alter table ${parent} attach partition ${part} for values from (${from}) to (${to})`);
  return moved.rowCount ?? 0;
}

/**
 * Runs maintenance every `intervalMs` (default daily). Every node runs the schedule; the
 * cluster lock lets one node do it, its fencing token refuses a holder whose lease ran
 * out, and the advisory lock inside PostgreSQL is the last guard. Returns a stop function.
 */
export function schedulePartitionMaintenance(
  pool: pg.Pool,
  options: PartitionOptions,
  logger: Logger,
  locks: LockManager,
  intervalMs = 24 * 60 * 60 * 1000,
): () => void {
  const run = () =>
    locks
      .using(MAINTENANCE_RESOURCE, 60_000, ({ fencingToken }) =>
        maintainPartitions(pool, options, logger, new Date(), fencingToken),
      )
      .catch((error: unknown) =>
        logger.error({ err: error }, 'partition maintenance failed; retrying at the next run'),
      );
  const timer = setInterval(() => void run(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
