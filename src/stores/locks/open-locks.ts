import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import type { FenceRepository } from '../postgres/repositories/fences.js';
import { createRedis, type RedisClient } from '../redis/connection.js';
import type { LockManager } from './lock-manager.js';
import { MemoryLockManager } from './memory-lock-manager.js';
import { RedisLockManager } from './redis-lock-manager.js';

/**
 * Cluster locks with fencing tokens (floored by PostgreSQL): Redlock on the shared Redis, or
 * on the independent masters of LOCK_REDIS_URLS (majority), or in process.
 */
export function openLockManager(
  config: Config,
  deps: { redis: RedisClient | undefined; fences: Pick<FenceRepository, 'floor'>; logger: Logger; closers: Closers },
): LockManager {
  const floor = (resource: string) => deps.fences.floor(resource);
  if (deps.redis === undefined || config.redis.mode !== 'external') return new MemoryLockManager(floor);
  if (config.redis.lockUrls.length === 0) return new RedisLockManager(deps.redis, floor);
  // Redlock's masters: a command waits for a master that is (re)connecting, and each
  // answers or fails within the dependency timeout, so a minority down costs nothing
  // (the majority answers first) and a majority down fails acquisition in that time.
  const { keyPrefix } = config.redis;
  const masters = config.redis.lockUrls.map((url, i) =>
    createRedis(url, deps.logger, `lock-${i}`, {
      commandTimeoutMs: config.dependencyTimeoutMs,
      offlineQueue: true,
      keyPrefix,
    }),
  );
  deps.closers.add('lock masters', () => {
    for (const master of masters) master.disconnect();
  });
  return new RedisLockManager(deps.redis, floor, masters);
}
