import type { Redis } from 'ioredis';
import { RedisLockManager } from '../../src/stores/locks/redis-lock-manager.js';
import { createRedis } from '../../src/stores/redis/connection.js';
import { lockManagerContract } from '../contract/lock-manager.contract.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

const connections: Redis[] = [];

lockManagerContract({
  name: 'Redlock on Redis (two connections, as two nodes)',
  create: async () => {
    const node = () => {
      const redis = createRedis(serviceEnv().REDIS_URL, testLogger(), 'locks', { offlineQueue: true });
      connections.push(redis);
      return new RedisLockManager(redis);
    };
    return [node(), node()];
  },
  teardown: async () => {
    for (const c of connections) c.disconnect();
  },
});
