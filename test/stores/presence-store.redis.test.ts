import type { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisPresenceStore } from '../../src/stores/presence/redis-presence-store.js';
import { createRedis } from '../../src/stores/redis/connection.js';
import { presenceStoreContract } from '../contract/presence-store.contract.js';
import { serviceEnv, testLogger, uniqueName } from '../helpers/env.js';

const connections: Redis[] = [];
afterAll(() => connections.forEach((c) => c.disconnect()));

presenceStoreContract({
  name: 'Redis (two connections, as two nodes)',
  // Each pair of nodes in a namespace of its own, as a deployment on a shared Redis would be.
  create: async ({ aliveMs }) => {
    const keyPrefix = `${uniqueName('ns')}:`;
    const node = (name: string) => {
      const redis = createRedis(serviceEnv().REDIS_URL, testLogger(), name, { offlineQueue: true, keyPrefix });
      connections.push(redis);
      const nodeId = uniqueName('node');
      return { presence: new RedisPresenceStore(redis, nodeId, aliveMs), nodeId };
    };
    return [node('presence-a'), node('presence-b')];
  },
  separateNodes: true,
});
