import type { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { createRedis } from '../../src/stores/redis/connection.js';
import { RedisStreamBuffer } from '../../src/stores/streams/redis-stream-buffer.js';
import { streamBufferContract } from '../contract/stream-buffer.contract.js';
import { serviceEnv, testLogger, uniqueName } from '../helpers/env.js';

const connections: Redis[] = [];
afterAll(() => connections.forEach((c) => c.disconnect()));

streamBufferContract({
  name: 'Redis (two connections, as two nodes)',
  // Each buffer in a namespace of its own, as a deployment on a shared Redis would be.
  create: async ({ maxBytes, ttlSeconds }) => {
    const keyPrefix = `${uniqueName('ns')}:`;
    const node = (name: string) => {
      const redis = createRedis(serviceEnv().REDIS_URL, testLogger(), name, { offlineQueue: true, keyPrefix });
      connections.push(redis);
      return new RedisStreamBuffer(redis, maxBytes, ttlSeconds);
    };
    return [node('streams-a'), node('streams-b')];
  },
});
