import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../../src/stores/cache/memory-cache.js';
import { cacheContract } from '../contract/cache.contract.js';

cacheContract({
  name: 'embedded: in process',
  create: async () => {
    const cache = new MemoryCache();
    return [cache, cache];
  },
});

describe('the in-process cache at its size bound', () => {
  it('makes room by dropping the least recently used entry, not the oldest written', async () => {
    const cache = new MemoryCache(2);
    await cache.set('read-often', 'a', 60);
    await cache.set('read-once', 'b', 60);
    expect(await cache.get('read-often')).toBe('a');
    await cache.set('new', 'c', 60);
    expect(await cache.get('read-often')).toBe('a');
    expect(await cache.get('read-once')).toBeUndefined();
    expect(await cache.get('new')).toBe('c');
  });
});
