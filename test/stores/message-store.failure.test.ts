import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendInput } from '../../src/stores/messages/message-store.js';
import { PostgresMessageStore } from '../../src/stores/messages/postgres-message-store.js';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { freshDatabase, testPool } from '../helpers/database.js';
import { testLogger } from '../helpers/env.js';

// A trigger makes the database refuse one marked row, so a whole batch fails inside
// PostgreSQL after some of its rows were already inserted.
describe('a failed batch (real PostgreSQL)', () => {
  let pool: pg.Pool;
  let store: PostgresMessageStore;
  let senderId: string;
  let sessions: string[];

  beforeAll(async () => {
    pool = testPool(await freshDatabase(), 6);
    await migrate(pool, testLogger());
    await maintainPartitions(pool, { monthsAhead: 1, retentionMonths: 0 }, testLogger());
    await pool.query(`create function refuse_marked() returns trigger language plpgsql as $$
      begin if new.content = 'REFUSE-ME' then raise exception 'refused by test trigger'; end if; return new; end $$`);
    await pool.query(
      'create trigger refuse_marked before insert on messages for each row execute function refuse_marked()',
    );
    const user = await pool.query<{ id: string }>(
      "insert into users (email, username, password_hash) values ($1, 'f', 'h') returning id",
      [`${randomUUID()}@example.test`],
    );
    senderId = user.rows[0]?.id as string;
    sessions = [];
    for (let i = 0; i < 3; i++) {
      sessions.push(
        (
          await pool.query<{ id: string }>('insert into sessions (user_id) values ($1) returning id', [
            user.rows[0]?.id,
          ])
        ).rows[0]?.id as string,
      );
    }
    // One batch at a time and a long wait, so the test controls what shares a batch.
    store = new PostgresMessageStore(pool, {
      groupCommit: { maxBatch: 100, maxWaitMs: 20, maxInFlight: 1 },
      limits: { maxContentBytes: 32768, maxMetadataBytes: 16384 },
    });
  });
  afterAll(async () => {
    await store.close();
    await pool.end();
  });

  const input = (sessionId: string, clientMsgId: string, content = 'fine'): AppendInput => ({
    sessionId,
    senderId,
    clientMsgId,
    role: 'user',
    content,
    contentType: 'text',
    metadata: {},
  });

  it('fails only its own callers with UNAVAILABLE and leaves nothing half-written', async () => {
    const [s1, s2, s3] = sessions as [string, string, string];
    await store.append(input(s3, 'before'));
    // Fill the in-flight slot, so the next three share one batch.
    const blocker = store.append(input(s3, 'blocker'));
    await new Promise((resolve) => setTimeout(resolve, 0)); // the blocker's batch is now in flight
    const doomed = [
      store.append(input(s1, 'a')),
      store.append(input(s2, 'b')),
      store.append(input(s1, 'c', 'REFUSE-ME')),
    ];
    await blocker;
    const outcomes = await Promise.allSettled(doomed);
    for (const outcome of outcomes)
      expect(outcome).toMatchObject({ status: 'rejected', reason: { code: 'UNAVAILABLE' } });
    const rows = await pool.query('select session_id from messages where session_id = any($1::uuid[])', [[s1, s2]]);
    expect(rows.rowCount).toBe(0);
    const seqs = await pool.query<{ id: string; last_seq: string }>(
      'select id, last_seq from sessions where id = any($1::uuid[])',
      [[s1, s2]],
    );
    expect(seqs.rows.map((r) => Number(r.last_seq))).toEqual([0, 0]);

    // The store keeps working, and a retry of the same clientMsgIds takes seq 1 and 2.
    expect((await store.append(input(s1, 'a'))).message.seq).toBe(1);
    expect((await store.append(input(s1, 'c'))).message.seq).toBe(2);
    expect((await store.append(input(s2, 'b'))).message.seq).toBe(1);
  });
});
