import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../../src/util/timeout.js';
import { testPool } from '../helpers/database.js';

// A node's pool on the real PostgreSQL: the server ends the connection of a client that a
// caller holds between two statements, as a restart does (57P01) while a transaction or a
// sync keeps its client. The process must live on (an `error` event with no listener ended
// it; vitest fails the run on such an uncaught error), the holder must see the failure on
// its next statement, and the pool must hand out working clients after.
describe('the pool when the server ends a checked-out connection (real PostgreSQL)', () => {
  let pool: pg.Pool;
  let admin: pg.Pool;

  beforeAll(() => {
    pool = testPool(undefined, 2);
    admin = testPool(undefined, 1);
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.end();
  });

  it('lives on, fails the holder on its next statement, and replaces the client', async () => {
    const client = await pool.connect();
    const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid;
    expect((await admin.query('select pg_terminate_backend($1) as ended', [pid])).rows[0]).toEqual({ ended: true });
    // The FATAL message reaches the client while it runs no statement.
    const gone = await waitUntil(
      async () => (await admin.query('select 1 from pg_stat_activity where pid = $1', [pid])).rowCount === 0,
      10_000,
      50,
    );
    expect(gone).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await expect(client.query('select 1')).rejects.toThrow();
    client.release();
    for (let i = 0; i < 3; i++) expect((await pool.query<{ n: number }>('select 1 as n')).rows[0]).toEqual({ n: 1 });
  });
});
