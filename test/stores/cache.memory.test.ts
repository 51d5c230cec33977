import { MemoryCache } from '../../src/stores/cache/memory-cache.js';
import { cacheContract } from '../contract/cache.contract.js';

cacheContract({
  name: 'embedded: in process',
  create: async () => {
    const cache = new MemoryCache();
    return [cache, cache];
  },
});
