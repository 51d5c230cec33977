import type { RedisClient } from '../redis/connection.js';
import type { Cache } from './cache.js';

/** Cache entries as Redis strings with EX. */
export class RedisCache implements Cache {
  constructor(private readonly redis: RedisClient) {}

  async get(key: string): Promise<string | undefined> {
    return (await this.redis.get(key)) ?? undefined;
  }

  async set(key: string, value: string, ttlSeconds: number): Promise<void> {
    await this.redis.set(key, value, 'EX', ttlSeconds);
  }

  async setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean> {
    return (await this.redis.set(key, value, 'EX', ttlSeconds, 'NX')) === 'OK';
  }

  async del(...keys: string[]): Promise<void> {
    // One DEL per key: on a Redis Cluster the keys may live on different masters.
    await Promise.all(keys.map((key) => this.redis.del(key)));
  }
}
