import type { RedisClient } from '../redis/connection.js';
import type { Cache } from './cache.js';
import { MemoryCache } from './memory-cache.js';
import { RedisCache } from './redis-cache.js';

/** The cache: on the shared Redis when there is one, in process otherwise. */
export function openCache(deps: { redis: RedisClient | undefined }): Cache {
  return deps.redis === undefined ? new MemoryCache() : new RedisCache(deps.redis);
}
