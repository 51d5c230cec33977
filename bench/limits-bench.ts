/**
 * Rate-limiter and lock benchmark against Redis: sliding-window checks per second and per
 * check latency next to a plain INCR round trip measured in the same run, and lock
 * acquire/release per second, uncontended and under contention.
 *
 *   npm run bench:limits                 # starts a private redis-server (Debian package)
 *   REDIS_URL=redis://... npm run bench:limits
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { createLogger } from '../src/logger.js';
import { RedisRateLimiter } from '../src/stores/limits/redis-rate-limiter.js';
import { RedisLockManager } from '../src/stores/locks/redis-lock-manager.js';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const logger = createLogger({ level: 'warn', nodeId: 'bench' });

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0
    ? 0
    : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number);
}

/** Runs `op` from `concurrency` loops for the benchmark duration; returns ops/s and latency. */
async function measure(
  concurrency: number,
  op: (i: number) => Promise<unknown>,
): Promise<{ perSecond: number; p50: number; p99: number }> {
  const latencies: number[] = [];
  let count = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        await op(w + count * concurrency);
        latencies.push(performance.now() - t0);
        count++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    perSecond: count / ((performance.now() - started) / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function main(): Promise<void> {
  let url = process.env['REDIS_URL'];
  let server: ChildProcess | undefined;
  if (url === undefined) {
    const port = await freePort();
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    url = `redis://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 300));
  }
  const redis = new Redis(url, { enableAutoPipelining: true });
  try {
    const limiter = new RedisRateLimiter(redis, 'bench');
    const rule = { limit: 1_000_000_000, windowMs: 10_000 };
    console.log(
      `rate limiter and locks on ${server === undefined ? 'REDIS_URL' : 'a private redis-server'}, ${seconds}s per run`,
    );
    console.log('operation                          concurrency     ops/s   p50 ms   p99 ms');
    const row = (name: string, c: number, r: { perSecond: number; p50: number; p99: number }) =>
      console.log(
        `${name.padEnd(34)} ${String(c).padStart(11)} ${r.perSecond.toFixed(0).padStart(9)} ${r.p50.toFixed(3).padStart(8)} ${r.p99.toFixed(3).padStart(8)}`,
      );
    for (const concurrency of [1, 64]) {
      const incr = await measure(concurrency, (i) => redis.incr(`bench:incr:${i % 1000}`));
      // 1,000 keys (users) with a window each: the log grows, as in production.
      const check = await measure(concurrency, (i) => limiter.consume(`bench:${i % 1000}`, rule));
      row('INCR round trip (baseline)', concurrency, incr);
      row('sliding-window check', concurrency, check);
      console.log(
        `  -> ${(check.perSecond / incr.perSecond).toFixed(2)}x the INCR rate; added latency per event p50 ${(check.p50 - incr.p50).toFixed(3)} ms over an INCR`,
      );
    }
    const locks = new RedisLockManager(redis);
    const free = await measure(1, async (i) => (await locks.tryAcquire(`bench:free:${i}`, 5_000))?.release());
    row('lock acquire+release, free', 1, free);
    let acquired = 0;
    let refused = 0;
    const contended = await measure(32, async (i) => {
      const lock = await locks.tryAcquire(`bench:hot:${i % 4}`, 5_000);
      if (lock === undefined) refused++;
      else {
        acquired++;
        await lock.release();
      }
    });
    row('lock attempt, 32 workers on 4 keys', 32, contended);
    console.log(`  -> ${(acquired / seconds).toFixed(0)} acquisitions/s, ${(refused / seconds).toFixed(0)} refusals/s`);
  } finally {
    redis.disconnect();
    server?.kill('SIGTERM');
  }
}

main().catch((error: unknown) => {
  logger.error({ err: error }, 'benchmark failed');
  process.exit(1);
});
