import { RedisPubSub } from '../../src/stores/pubsub/redis-pubsub.js';
import { createRedis } from '../../src/stores/redis/connection.js';
import { pubSubContract } from '../contract/pubsub.contract.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

pubSubContract({
  name: 'Redis (two connections pairs, as two nodes)',
  create: async () => {
    const url = serviceEnv().REDIS_URL;
    const node = (name: string) =>
      new RedisPubSub(
        createRedis(url, testLogger(), `${name}-pub`, { offlineQueue: true }),
        createRedis(url, testLogger(), `${name}-sub`, { offlineQueue: true }),
      );
    return [node('a'), node('b')];
  },
});
