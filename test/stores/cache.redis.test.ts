import { afterAll } from 'vitest';
import { RedisCache } from '../../src/stores/cache/redis-cache.js';
import { createRedis } from '../../src/stores/redis/connection.js';
import { cacheContract } from '../contract/cache.contract.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

const connect = (name: string) => createRedis(serviceEnv().REDIS_URL, testLogger(), name, { offlineQueue: true });
const connections = [connect('cache-a'), connect('cache-b')] as const;
afterAll(() => connections.forEach((c) => c.disconnect()));

cacheContract({
  name: 'Redis (two connections, as two nodes)',
  create: async () => [new RedisCache(connections[0]), new RedisCache(connections[1])],
});
