import { LRUCache } from 'lru-cache';
import type { Cache } from './cache.js';

/**
 * In-process cache with expiry and a size bound: past it the least recently used entry
 * goes (lru-cache), so the sessions and users a node keeps reading stay while one-off
 * entries make room.
 */
export class MemoryCache implements Cache {
  private readonly entries: LRUCache<string, string>;

  constructor(maxEntries = 100_000) {
    this.entries = new LRUCache<string, string>({ max: maxEntries });
  }

  async get(key: string): Promise<string | undefined> {
    return this.entries.get(key);
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    this.entries.set(key, value, { ttl: ttlSeconds * 1000 });
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    // Checked and set in one turn: two claims of one key cannot both win.
    if (this.entries.has(key)) return false;
    this.entries.set(key, value, { ttl: ttlSeconds * 1000 });
    return true;
  }

  async del(...keys: string[]): Promise<void> {
    for (const key of keys) this.entries.delete(key);
  }
}
