import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { connectRedis } from '../../src/stores/redis/connection.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { testLogger } from '../helpers/env.js';

describe('nothing grows for ever (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  const redis = () => cluster.redis();

  it('leaves no fencing counter behind a committed stream', async () => {
    const owner = await cluster.user();
    const streamer = await cluster.connect(0, owner);
    const sessionId = await cluster.session(streamer);
    const watcher = await cluster.connect(1, owner);
    await request(watcher, 'session:join', { sessionId });
    const seen = collect<{ message: Message }>(watcher, 'message:new');
    await request(streamer, 'message:delta', { sessionId, streamId: 'gone', index: 0, delta: 'text' });
    streamer.close();
    await eventually(() => expect(seen.map((s) => s.message.content)).toEqual(['text']));
    // KEYS takes a pattern as it is (ioredis puts the namespace only in front of keys).
    expect(await redis().keys(`*vh:fence:stream:${sessionId}:*`)).toEqual([]);
    expect(await redis().keys(`*vh:stream*${sessionId}*`)).toEqual([]);
  });

  it('drops a session from a node’s presence set once the node has no connection left in it', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(1, owner);
    const sessionId = await cluster.session(socket);
    const key = `vh:node-sessions:${cluster.nodes[1]!.config.nodeId}`;
    expect(await redis().sismember(key, sessionId)).toBe(1);
    expect(await request(socket, 'session:leave', { sessionId })).toEqual({ ok: true, data: {} });
    expect(await redis().sismember(key, sessionId)).toBe(0);
    expect(await redis().exists(`vh:presence:${sessionId}`)).toBe(0);
  });

  it('keeps its node registry and heartbeat keys in its REDIS_NAMESPACE, none at the root', async () => {
    const { nodeId, redis: config } = cluster.nodes[0]!.config;
    if (config.mode !== 'external') throw new Error('this test needs Redis');
    expect(config.keyPrefix).toMatch(/^ns_[0-9a-f]{12}:$/);
    const raw = connectRedis({ ...config, keyPrefix: '' }, testLogger(), 'test-raw', { offlineQueue: true });
    try {
      expect(await raw.sismember(`${config.keyPrefix}vh:nodes`, nodeId)).toBe(1);
      expect(await raw.sismember('vh:nodes', nodeId)).toBe(0);
      expect(await raw.exists(`${config.keyPrefix}vh:node-alive:${nodeId}`)).toBe(1);
    } finally {
      raw.disconnect();
    }
  });
});
