/**
 * Message-append benchmark: committed messages per second and commit latency (p50/p99)
 * with group commit, against one transaction per message (the same store and guarantees
 * with batches of one) measured in the same run on the same database.
 *
 *   npm run bench                 # embedded PostgreSQL (fsync on), full matrix
 *   DATABASE_URL=... npm run bench
 *   BENCH_SECONDS=1 BENCH_WRITERS=1,256 BENCH_SESSIONS=10000 npm run bench
 */
import type pg from 'pg';
import { createLogger } from '../src/logger.js';
import { PostgresMessageStore } from '../src/stores/messages/postgres-message-store.js';
import { maintainPartitions } from '../src/stores/postgres/partitions.js';
import { benchDatabase } from './database.js';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 2);
const writerCounts = (process.env['BENCH_WRITERS'] ?? '1,16,64,256').split(',').map(Number);
const sessionCounts = (process.env['BENCH_SESSIONS'] ?? '1,100,10000').split(',').map(Number);
const logger = createLogger({ level: 'warn', nodeId: 'bench' });

interface RunResult {
  /** Average messages per transaction. */
  batch: number;
  perSecond: number;
  p50: number;
  p99: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function run(
  pool: pg.Pool,
  senderId: string,
  sessions: string[],
  writers: number,
  mode: 'group' | 'single',
): Promise<RunResult> {
  const store = new PostgresMessageStore(pool, {
    groupCommit:
      mode === 'group'
        ? { maxBatch: 256, maxWaitMs: 2, maxInFlight: 4 }
        : { maxBatch: 1, maxWaitMs: 0, maxInFlight: 16 },
    limits: { maxContentBytes: 32768, maxMetadataBytes: 16384 },
  });
  const latencies: number[] = [];
  let committed = 0;
  let counter = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  const content = 'a partial transcript of about eighty characters, typical of one voice turn .....';
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (performance.now() < deadline) {
        const sessionId = sessions[(w + counter * 7919) % sessions.length] as string;
        const id = `${mode}-${w}-${counter++}`;
        const t0 = performance.now();
        await store.append({
          sessionId,
          senderId,
          clientMsgId: id,
          role: 'user',
          content,
          contentType: 'text',
          metadata: {},
        });
        latencies.push(performance.now() - t0);
        committed++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await store.close();
  const stats = store.commitStats();
  latencies.sort((a, b) => a - b);
  return {
    batch: stats.items / Math.max(1, stats.batches),
    perSecond: committed / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function main(): Promise<void> {
  const database = await benchDatabase(54391, 24, logger);
  const { pool } = database;
  try {
    await maintainPartitions(pool, { monthsAhead: 1, retentionMonths: 0 }, logger);
    const user = await pool.query<{ id: string }>(
      "insert into users (email, username, password_hash) values ('bench-' || gen_random_uuid() || '@example.test', 'bench', 'x') returning id",
    );
    const userId = user.rows[0]?.id as string;
    console.log(`message append benchmark: ${seconds}s per run, database ${database.description}`);
    console.log(
      'writers  sessions | group commit msg/s   p50 ms   p99 ms  msgs/tx | one tx per msg msg/s   p50 ms   p99 ms | ratio',
    );
    for (const sessionCount of sessionCounts) {
      const created = await pool.query<{ id: string }>(
        'insert into sessions (user_id) select $1 from generate_series(1, $2) returning id',
        [userId, sessionCount],
      );
      const sessions = created.rows.map((r) => r.id);
      for (const writers of writerCounts) {
        const single = await run(pool, userId, sessions, writers, 'single');
        const group = await run(pool, userId, sessions, writers, 'group');
        console.log(
          `${String(writers).padStart(7)} ${String(sessionCount).padStart(9)} | ${group.perSecond.toFixed(0).padStart(18)} ${group.p50.toFixed(1).padStart(8)} ${group.p99.toFixed(1).padStart(8)} ${group.batch.toFixed(0).padStart(8)} | ${single.perSecond.toFixed(0).padStart(20)} ${single.p50.toFixed(1).padStart(8)} ${single.p99.toFixed(1).padStart(8)} | ${(group.perSecond / single.perSecond).toFixed(2).padStart(5)}x`,
        );
      }
    }
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
