import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChaosCluster, type Fault, violations } from '../../chaos/harness.js';

// The short version of `npm run chaos`: three server processes on the harness's own
// PostgreSQL, Redis, S3, Milvus and Neo4j, a few seconds of load per fault (retrieval
// probed on every node throughout). The full rounds are a command. Each round cuts its own
// waits to its budget, under the test's timeout, so that one that cannot finish reports
// where it stopped (its timeline, printed with a failed round's result) and leaves nothing
// running beside the next.
const SHORT = { seconds: 6, rate: 100, sessions: 4, downSeconds: 2, documentsBefore: 4, budgetMs: 100_000 };

describe('faults under load (three nodes, short rounds)', () => {
  let cluster: ChaosCluster;

  beforeAll(async () => {
    cluster = await ChaosCluster.start();
  }, 120_000);
  afterAll(() => cluster?.stop());

  it('sees it when an acked message is lost or stored twice (the checks can fail)', async () => {
    const result = await cluster.round('none', {
      ...SHORT,
      seconds: 3,
      beforeCheck: async (query) => {
        // One acked message gone, another stored a second time under a new seq (in the
        // DEFAULT partition: each monthly one refuses a second copy by itself).
        await query(
          'delete from messages where id = (select id from messages order by created_at desc, seq desc limit 1)',
          [],
        );
        await query(
          `insert into messages (session_id, seq, role, content, client_msg_id, sender_id, created_at)
           select session_id, seq + 100000, role, content, client_msg_id, sender_id, '2999-01-01' from messages order by created_at desc limit 1`,
          [],
        );
      },
    });
    expect(result.lost).toBe(1);
    expect(result.duplicated).toBe(1);
    expect(result.gaps).toBeGreaterThanOrEqual(1);
    expect(violations(result)).not.toEqual([]);
  }, 120_000);

  const faults: Fault[] = [
    'node-sigkill',
    'node-sigterm',
    'rolling-restart',
    'redis-restart-empty',
    'postgres-restart',
    'postgres-stall',
    's3-restart',
    'milvus-restart',
    'neo4j-restart',
  ];
  for (const fault of faults) {
    it(`${fault}: loses, duplicates and reorders nothing that was acked, and recovers`, async () => {
      const result = await cluster.round(fault, SHORT);
      expect(violations(result), JSON.stringify(result)).toEqual([]);
      expect(result.acked).toBe(result.sent);
      expect(result.sent).toBeGreaterThan(SHORT.rate * SHORT.seconds * 0.8);
      expect(result.streams).toBeGreaterThan(0);
    }, 120_000);
  }
});
