import { type ChildProcess, spawn } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailoverRateLimiter } from '../../src/stores/limits/failover-rate-limiter.js';
import { MemoryRateLimiter } from '../../src/stores/limits/memory-rate-limiter.js';
import { RedisRateLimiter } from '../../src/stores/limits/redis-rate-limiter.js';
import { createRedis, whenReady } from '../../src/stores/redis/connection.js';
import { rateLimiterContract } from '../contract/rate-limiter.contract.js';
import { eventually } from '../helpers/cluster.js';
import { serviceEnv, testLogger, uniqueName } from '../helpers/env.js';
import { freePort } from '../helpers/ports.js';

const sharedRedis = createRedis(serviceEnv().REDIS_URL, testLogger(), 'limits', { offlineQueue: true });
afterAll(() => sharedRedis.disconnect());

rateLimiterContract({
  name: 'Redis (one Lua script per check)',
  create: () => new RedisRateLimiter(sharedRedis, 'test-node'),
});

describe('the Redis limiter', () => {
  it('stores every one of many attempts admitted in the same millisecond (the seed collapsed them)', async () => {
    const key = uniqueName('burst');
    const limiter = new RedisRateLimiter(sharedRedis, 'test-node');
    const results = await Promise.all(
      Array.from({ length: 60 }, () => limiter.consume(key, { limit: 25, windowMs: 60_000 })),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(25);
    expect(await sharedRedis.zcard(`vh:rl:${key}`)).toBe(25);
  });
});

// A private Redis that the test stops and starts again, so the shared one stays up.
describe('when Redis goes away and comes back', () => {
  let port: number;
  let server: ChildProcess | undefined;
  let redis: Redis;

  const startRedis = async () => {
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await eventually(async () => {
      const probe = new Redis({
        port,
        host: '127.0.0.1',
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      try {
        await probe.connect();
        expect(await probe.ping()).toBe('PONG');
      } finally {
        probe.disconnect();
      }
    });
  };
  const stopRedis = async () => {
    if (server === undefined || server.exitCode !== null || server.signalCode !== null) return;
    const exited = new Promise((r) => server?.once('exit', r));
    server.kill('SIGKILL');
    await exited;
  };

  beforeAll(async () => {
    port = await freePort();
    await startRedis();
    redis = createRedis(`redis://127.0.0.1:${port}`, testLogger(), 'failover', { offlineQueue: false });
    await whenReady(redis);
  });
  afterAll(async () => {
    redis?.disconnect();
    await stopRedis();
  });

  it('fails open to a local window or closed with UNAVAILABLE, counts each failure, and recovers by itself', async () => {
    let failures = 0;
    const shared = new RedisRateLimiter(redis, 'failover-node');
    const open = new FailoverRateLimiter(shared, new MemoryRateLimiter(), 'open', testLogger(), () => failures++, 250);
    const closed = new FailoverRateLimiter(
      shared,
      new MemoryRateLimiter(),
      'closed',
      testLogger(),
      () => failures++,
      250,
    );
    const rule = { limit: 2, windowMs: 60_000 };

    expect((await open.consume('k', rule)).allowed).toBe(true);
    await stopRedis();
    // Open: the node's own window (fresh, so two more pass, then it limits locally).
    expect((await open.consume('k', rule)).allowed).toBe(true);
    expect((await open.consume('k', rule)).allowed).toBe(true);
    expect((await open.consume('k', rule)).allowed).toBe(false);
    await expect(closed.consume('k2', rule)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(failures).toBeGreaterThanOrEqual(4);

    await startRedis();
    let attempt = 0;
    await eventually(async () => {
      const before = failures;
      expect((await closed.consume(`k3-${attempt++}`, rule)).allowed).toBe(true);
      expect(failures).toBe(before);
    }, 15_000);
    // Back on the shared window: the state before the outage was lost with the process,
    // but the shared limit applies again.
    expect((await open.consume('k4', rule)).allowed).toBe(true);
    expect(await redis.exists('vh:rl:k4')).toBe(1);
  }, 40_000);
});
