import { afterAll, describe, expect, it } from 'vitest';
import { RedisCache } from '../../src/stores/cache/redis-cache.js';
import { RedisRateLimiter } from '../../src/stores/limits/redis-rate-limiter.js';
import { RedisLockManager } from '../../src/stores/locks/redis-lock-manager.js';
import { RedisPresenceStore } from '../../src/stores/presence/redis-presence-store.js';
import { RedisPubSub } from '../../src/stores/pubsub/redis-pubsub.js';
import { BullMqQueue } from '../../src/stores/queue/bullmq-queue.js';
import { connectRedis, type RedisClient, type RedisOptions, whenReady } from '../../src/stores/redis/connection.js';
import { RedisStreamBuffer } from '../../src/stores/streams/redis-stream-buffer.js';
import { RedisTurnStore } from '../../src/stores/turns/redis-turn-store.js';
import { cacheContract } from '../contract/cache.contract.js';
import { jobQueueContract } from '../contract/job-queue.contract.js';
import { lockManagerContract } from '../contract/lock-manager.contract.js';
import { presenceStoreContract } from '../contract/presence-store.contract.js';
import { pubSubContract } from '../contract/pubsub.contract.js';
import { rateLimiterContract } from '../contract/rate-limiter.contract.js';
import { streamBufferContract } from '../contract/stream-buffer.contract.js';
import { turnStoreContract } from '../contract/turn-store.contract.js';
import { testLogger, uniqueName } from '../helpers/env.js';

// The store adapters on the three-master Redis Cluster the test services start
// (test/infra/services.sh), through the same connection factory a node uses with
// REDIS_CLUSTER_NODES. A command whose keys span slots fails there with CROSSSLOT.
const clusterNodes = (process.env['TEST_REDIS_CLUSTER_NODES'] ?? '').split(',').filter((url) => url !== '');
if (clusterNodes.length === 0) throw new Error('TEST_REDIS_CLUSTER_NODES is not set: run the suite with npm test');
const target = { url: clusterNodes[0] as string, clusterNodes };
const connections: RedisClient[] = [];
/** A connection to the cluster, behind `keyPrefix` (a namespace) when given. */
function cluster(name: string, options: RedisOptions = {}, keyPrefix?: string): RedisClient {
  const client = connectRedis({ ...target, ...(keyPrefix === undefined ? {} : { keyPrefix }) }, testLogger(), name, {
    offlineQueue: true,
    ...options,
  });
  connections.push(client);
  return client;
}
afterAll(() => connections.forEach((c) => c.disconnect()));

pubSubContract({
  name: 'Redis Cluster, sharded (two connection pairs, as two nodes)',
  create: async () => {
    const node = (name: string) =>
      new RedisPubSub(
        { publisher: cluster(`${name}-pub`), subscriber: cluster(`${name}-sub`, { shardedSubscribers: true }) },
        { timeoutMs: 2_000, sharded: true },
      );
    return [node('a'), node('b')];
  },
});

rateLimiterContract({ name: 'Redis Cluster', create: () => new RedisRateLimiter(cluster('limits'), 'test-node') });

turnStoreContract({
  name: 'Redis Cluster (two connections, as two nodes)',
  create: async () => [new RedisTurnStore(cluster('turns-a')), new RedisTurnStore(cluster('turns-b'))],
});

lockManagerContract({
  name: 'Redlock on a Redis Cluster (two connections, as two nodes)',
  create: async () => [new RedisLockManager(cluster('locks-a')), new RedisLockManager(cluster('locks-b'))],
  teardown: async () => undefined,
});

// Each buffer and presence store in a namespace of its own: `idle` and the reaper see only
// this test's streams and nodes.
streamBufferContract({
  name: 'Redis Cluster (two connections, as two nodes)',
  create: async ({ maxBytes, ttlSeconds }) => {
    const namespace = `${uniqueName('ns')}:`;
    return [
      new RedisStreamBuffer(cluster('streams-a', {}, namespace), maxBytes, ttlSeconds),
      new RedisStreamBuffer(cluster('streams-b', {}, namespace), maxBytes, ttlSeconds),
    ];
  },
});

presenceStoreContract({
  name: 'Redis Cluster (two connections, as two nodes)',
  create: async ({ aliveMs }) => {
    const namespace = `${uniqueName('ns')}:`;
    const node = (name: string) => {
      const nodeId = uniqueName('node');
      return { presence: new RedisPresenceStore(cluster(name, {}, namespace), nodeId, aliveMs), nodeId };
    };
    return [node('presence-a'), node('presence-b')];
  },
  separateNodes: true,
});

cacheContract({
  name: 'Redis Cluster (two connections, as two nodes; keys on every master)',
  create: async () => [new RedisCache(cluster('cache-a')), new RedisCache(cluster('cache-b'))],
});

// One namespace for the file's queues: the suite opens one queue name on two nodes.
const queueNamespace = `${uniqueName('ns')}:`;
jobQueueContract({
  name: 'BullMQ on a Redis Cluster (a queue per node)',
  create: ({ name, concurrency, attempts, outageBudgetMs }) =>
    new BullMqQueue(
      {
        name,
        redis: { ...target, keyPrefix: queueNamespace },
        concurrency,
        attempts,
        outageBudgetMs,
        stalledIntervalMs: 1_000,
      },
      testLogger(),
    ),
  shared: true,
});

describe('the other Redis stores on a Redis Cluster', () => {
  it('buffers, interrupts and sweeps streams whose keys land on every master', async () => {
    const client = cluster('streams');
    await whenReady(client);
    const streams = new RedisStreamBuffer(client, 65_536);
    const sessions = Array.from({ length: 40 }, () => uniqueName('session'));
    for (const sessionId of sessions) {
      for (const [index, delta] of ['hello ', 'world'].entries()) {
        expect(
          await streams.append({
            sessionId,
            streamId: 's',
            userId: 'u',
            role: 'assistant',
            index,
            delta,
            nodeId: 'n',
            socketId: 'x',
          }),
        ).toBe('appended');
      }
    }
    expect(await streams.get(sessions[0] as string, 's')).toMatchObject({ text: 'hello world', role: 'assistant' });
    const idle = await streams.idle(0);
    expect(
      sessions.every((sessionId) => idle.some((open) => open.sessionId === sessionId && open.streamId === 's')),
    ).toBe(true);
    const taken = await streams.interrupt(sessions[1] as string, 's');
    expect(taken).toMatchObject({ text: 'hello world', deltaEnds: [6, 11] });
    await streams.interrupted(sessions[1] as string, 's', 'message-1');
    expect(await streams.interruptedBy(sessions[1] as string, 's')).toBe('message-1');
    await expect(
      streams.append({
        sessionId: sessions[1] as string,
        streamId: 's',
        userId: 'u',
        role: 'assistant',
        index: 2,
        delta: '!',
        nodeId: 'n',
        socketId: 'x',
      }),
    ).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    for (const sessionId of sessions) await streams.remove(sessionId, 's');
    const after = await streams.idle(0);
    expect(after.filter((open) => sessions.includes(open.sessionId))).toEqual([]);
  });

  it('counts presence over nodes and reaps a dead node, across masters', async () => {
    const a = new RedisPresenceStore(cluster('presence-a'), uniqueName('node'), 1_000);
    const b = new RedisPresenceStore(cluster('presence-b'), uniqueName('node'), 1_000);
    await Promise.all([a.heartbeat(), b.heartbeat()]);
    const sessionId = uniqueName('session');
    expect((await a.change(sessionId, 'alice', 'user', 1)).connections).toBe(1);
    expect((await b.change(sessionId, 'alice', 'user', 1)).connections).toBe(2);
    expect((await b.change(sessionId, 'bob', 'user', 1)).connections).toBe(1);
    expect(await a.list(sessionId)).toEqual([
      { userId: 'alice', role: 'user', connections: 2 },
      { userId: 'bob', role: 'user', connections: 1 },
    ]);
    // b stops beating: once its heartbeat expires, a reaps its counts.
    await new Promise((r) => setTimeout(r, 1_200));
    await a.heartbeat();
    const reaped = await a.reapDeadNodes();
    expect(reaped.filter((c) => c.sessionId === sessionId).map((c) => c.entry)).toEqual(
      expect.arrayContaining([
        { userId: 'alice', role: 'user', connections: 1 },
        { userId: 'bob', role: 'user', connections: 0 },
      ]),
    );
    expect(await a.list(sessionId)).toEqual([{ userId: 'alice', role: 'user', connections: 1 }]);
    expect((await a.change(sessionId, 'alice', 'user', -1)).connections).toBe(0);
    await a.clearNode();
  });
});
