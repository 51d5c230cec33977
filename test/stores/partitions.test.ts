import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { maintainPartitions, monthStart, partitionName } from '../../src/stores/postgres/partitions.js';
import { freshDatabase, testPool } from '../helpers/database.js';
import { testLogger } from '../helpers/env.js';

describe('monthly partitions (real PostgreSQL)', () => {
  let pool: pg.Pool;
  let sessionId: string;
  const now = new Date('2026-11-25T12:00:00Z');
  const options = { monthsAhead: 3, retentionMonths: 0 };

  const partitions = async (table: string) =>
    (
      await pool.query<{ name: string }>(
        `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
          join pg_class p on p.oid = i.inhparent where p.relname = $1 order by 1`,
        [table],
      )
    ).rows.map((r) => r.name);

  const insertAt = async (createdAt: string, seq: number) => {
    const result = await pool.query<{ part: string }>(
      `insert into messages (session_id, seq, role, content, client_msg_id, created_at)
       values ($1, $2, 'user', 'x', $3, $4) returning tableoid::regclass::text as part`,
      [sessionId, seq, `c${seq}`, createdAt],
    );
    return result.rows[0]?.part;
  };
  const partitionOf = async (seq: number) =>
    (
      await pool.query<{ part: string }>(
        'select tableoid::regclass::text as part from messages where session_id = $1 and seq = $2',
        [sessionId, seq],
      )
    ).rows[0]?.part;

  beforeAll(async () => {
    pool = testPool(await freshDatabase(), 4);
    await migrate(pool, testLogger());
    const user = await pool.query<{ id: string }>(
      "insert into users (email, username, password_hash) values ($1, 'p', 'h') returning id",
      [`${randomUUID()}@example.test`],
    );
    const session = await pool.query<{ id: string }>('insert into sessions (user_id) values ($1) returning id', [
      user.rows[0]?.id,
    ]);
    sessionId = session.rows[0]?.id as string;
  });
  afterAll(() => pool.end());

  it('names partitions by UTC month', () => {
    expect(partitionName('messages', monthStart(now))).toBe('messages_p2026_11');
    expect(partitionName('audit_logs', monthStart(now, 2))).toBe('audit_logs_p2027_01');
  });

  it('creates the current month and the next N for both tables, once', async () => {
    const first = await maintainPartitions(pool, options, testLogger(), now);
    expect(first.ran).toBe(true);
    expect(first.created).toEqual([
      'messages_p2026_11',
      'messages_p2026_12',
      'messages_p2027_01',
      'messages_p2027_02',
      'audit_logs_p2026_11',
      'audit_logs_p2026_12',
      'audit_logs_p2027_01',
      'audit_logs_p2027_02',
    ]);
    expect((await maintainPartitions(pool, options, testLogger(), now)).created).toEqual([]);
    expect(await partitions('messages')).toEqual([
      'messages_default',
      'messages_p2026_11',
      'messages_p2026_12',
      'messages_p2027_01',
      'messages_p2027_02',
    ]);
  });

  it('puts each row in its month, including the month boundary', async () => {
    expect(await insertAt('2026-11-30T23:59:59.999Z', 1)).toBe('messages_p2026_11');
    expect(await insertAt('2026-12-01T00:00:00Z', 2)).toBe('messages_p2026_12');
    expect(await insertAt('2027-02-14T08:00:00Z', 3)).toBe('messages_p2027_02');
  });

  it('gives every new partition the per-partition unique keys', async () => {
    await expect(insertAt('2026-11-02T00:00:00Z', 1)).rejects.toMatchObject({ code: '23505' });
  });

  it('lands a far-future row in DEFAULT and moves it once its partition is created', async () => {
    expect(await insertAt('2031-05-10T10:00:00Z', 4)).toBe('messages_default');
    const report = await maintainPartitions(pool, options, testLogger(), now);
    expect(report.created).toEqual(['messages_p2031_05']);
    expect(report.movedRows).toBe(1);
    expect(await partitionOf(4)).toBe('messages_p2031_05');
    expect(Number((await pool.query('select count(*) as n from messages_default')).rows[0].n)).toBe(0);
  });

  it('lets only one of several nodes run maintenance at a time, without errors', async () => {
    const reports = await Promise.all(
      [1, 2, 3].map(() => maintainPartitions(pool, options, testLogger(), new Date('2027-01-10T00:00:00Z'))),
    );
    expect(reports.filter((r) => r.ran).length).toBeGreaterThanOrEqual(1);
    expect(reports.flatMap((r) => r.created).sort()).toEqual([
      'audit_logs_p2027_03',
      'audit_logs_p2027_04',
      'messages_p2027_03',
      'messages_p2027_04',
    ]);
  });

  it('refuses maintenance under a stale fencing token and changes nothing', async () => {
    await maintainPartitions(pool, options, testLogger(), now, 10);
    const before = await partitions('messages');
    await expect(
      maintainPartitions(pool, { monthsAhead: 12, retentionMonths: 0 }, testLogger(), now, 9),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await partitions('messages')).toEqual(before);
  });

  it('drops exactly the partitions older than the retention, and keeps the rest', async () => {
    await insertAt('2026-08-15T00:00:00Z', 5);
    await maintainPartitions(pool, options, testLogger(), now); // creates 2026_08 from DEFAULT
    expect(await partitionOf(5)).toBe('messages_p2026_08');
    // In January 2027 with 4 months kept, everything before 2026-09 goes.
    const report = await maintainPartitions(
      pool,
      { monthsAhead: 3, retentionMonths: 4 },
      testLogger(),
      new Date('2027-01-10T00:00:00Z'),
    );
    expect(report.dropped).toEqual(['messages_p2026_08']);
    expect(await partitionOf(5)).toBeUndefined();
    expect(await partitionOf(1)).toBe('messages_p2026_11');
  });
});
