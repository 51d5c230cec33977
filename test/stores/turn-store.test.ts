import { createRedis } from '../../src/stores/redis/connection.js';
import { MemoryTurnStore } from '../../src/stores/turns/memory-turn-store.js';
import { RedisTurnStore } from '../../src/stores/turns/redis-turn-store.js';
import { turnStoreContract } from '../contract/turn-store.contract.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

turnStoreContract({
  name: 'embedded: in process',
  create: async () => {
    const store = new MemoryTurnStore();
    return [store, store];
  },
});

turnStoreContract({
  name: 'Redis (two connections, as two nodes)',
  create: async () => {
    const connect = (name: string) =>
      new RedisTurnStore(createRedis(serviceEnv().REDIS_URL, testLogger(), name, { offlineQueue: true }));
    return [connect('turns-a'), connect('turns-b')];
  },
});
