import path from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HarnessRedis } from '../../chaos/services.js';
import { openLockManager } from '../../src/stores/locks/open-locks.js';
import { RedisLockManager } from '../../src/stores/locks/redis-lock-manager.js';
import { connectRedis, createRedis } from '../../src/stores/redis/connection.js';
import { Closers } from '../../src/util/closers.js';
import { lockManagerContract } from '../contract/lock-manager.contract.js';
import { clusterConfig, serviceEnv, tempDir, testLogger, uniqueName } from '../helpers/env.js';

/** Three independent Redis masters of this file's own, as LOCK_REDIS_URLS names them. */
let masters: HarnessRedis[] = [];
const connections: Redis[] = [];

beforeAll(async () => {
  const dir = tempDir('vh-redlock-');
  masters = await Promise.all([0, 1, 2].map((i) => HarnessRedis.create(path.join(dir, `master-${i}`))));
}, 60_000);
afterAll(async () => {
  for (const connection of connections) connection.disconnect();
  await Promise.all(masters.map((master) => master.stop(false)));
});

/** One node's lock manager: fencing on the suite's Redis, leases on the three masters. */
function node(): RedisLockManager {
  const connect = (url: string, name: string) => {
    const redis = createRedis(url, testLogger(), name, { commandTimeoutMs: 1_000, offlineQueue: true });
    connections.push(redis);
    return redis;
  };
  return new RedisLockManager(
    connect(serviceEnv().REDIS_URL, 'fencing'),
    async () => 0,
    masters.map((master, i) => connect(master.url, `master-${i}`)),
  );
}

// Three masters answer an extension more slowly than one Redis: a longer lease, the same proportions.
lockManagerContract({
  name: 'Redlock on three masters (two nodes)',
  create: async () => [node(), node()],
  leaseMs: 900,
});

describe('Redlock on three masters in a REDIS_NAMESPACE', () => {
  it('keeps its leases under the namespace on every master, apart from another deployment’s', async () => {
    const lockUrls = masters.map((master) => master.url).join(',');
    const deployment = async (namespace: string) => {
      const config = clusterConfig({ LOCK_REDIS_URLS: lockUrls, REDIS_NAMESPACE: namespace });
      if (config.redis.mode !== 'external') throw new Error('the suite runs with Redis');
      const redis = connectRedis(config.redis, testLogger(), 'fencing', { offlineQueue: true });
      connections.push(redis as Redis);
      const closers = new Closers(testLogger(), 5_000);
      const locks = openLockManager(config, { redis, fences: { floor: async () => 0 }, logger: testLogger(), closers });
      return { locks, closers };
    };
    const namespaces = [uniqueName('ns'), uniqueName('ns')];
    const [first, second] = [await deployment(namespaces[0] as string), await deployment(namespaces[1] as string)];
    const resource = uniqueName('shared-name');
    const held = await first.locks.tryAcquire(resource, 10_000);
    expect(held).toBeDefined();
    // Another deployment's lock of the same name is another lock.
    const other = await second.locks.tryAcquire(resource, 10_000);
    expect(other).toBeDefined();
    for (const master of masters) {
      const raw = createRedis(master.url, testLogger(), 'raw', { offlineQueue: true });
      connections.push(raw);
      // Each master holds both leases, each under its deployment's namespace, none at the root.
      expect((await raw.keys(`*vh:lock:${resource}`)).sort()).toEqual(
        namespaces.map((namespace) => `${namespace}:vh:lock:${resource}`).sort(),
      );
    }
    await held?.release();
    await other?.release();
    await Promise.all([first.closers.closeAll(), second.closers.closeAll()]);
  });
});

describe('Redlock on three masters when masters stop', () => {
  it('keeps granting leases by majority with one master down, and fails cleanly with two down', async () => {
    const [a, b] = [node(), node()];
    const resource = `redlock-${Date.now()}`;
    const held = await a.tryAcquire(resource, 10_000);
    expect(held).toBeDefined();
    expect(await b.tryAcquire(resource, 10_000)).toBeUndefined();
    await held?.release();

    await masters[0]?.stop(false);
    const withTwo = await a.tryAcquire(resource, 10_000);
    expect(withTwo).toBeDefined();
    expect(await b.tryAcquire(resource, 10_000)).toBeUndefined();
    await withTwo?.extend(10_000);
    await withTwo?.release();
    expect(await b.using(resource, 5_000, async () => 'done')).toEqual({ result: 'done' });

    await masters[1]?.stop(false);
    const started = Date.now();
    await expect(a.tryAcquire(resource, 10_000)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(b.using(resource, 5_000, async () => 'never')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    // Refused at once, not after a lease or a retry window.
    expect(Date.now() - started).toBeLessThan(5_000);

    await Promise.all([masters[0]?.start(), masters[1]?.start()]);
    await expect
      .poll(async () => (await a.tryAcquire(`${resource}-back`, 5_000)) !== undefined, { timeout: 10_000 })
      .toBe(true);
  }, 60_000);
});
