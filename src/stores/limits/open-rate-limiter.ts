import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import { connectRedis, whenReady } from '../redis/connection.js';
import { FailoverRateLimiter } from './failover-rate-limiter.js';
import { MemoryRateLimiter } from './memory-rate-limiter.js';
import type { RateLimiter } from './rate-limiter.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

/**
 * The rate limiter the configuration names: on Redis (a connection of its own, so that a
 * slow command elsewhere never delays a check) with the in-process limiter as the fallback
 * RATE_LIMIT_FAIL_MODE chooses, or in process on the embedded default.
 */
export async function openRateLimiter(
  config: Config,
  deps: { logger: Logger; onSharedFailure: () => void },
): Promise<{ limiter: RateLimiter; close: () => void }> {
  const local = new MemoryRateLimiter();
  if (config.redis.mode !== 'external') return { limiter: local, close: () => undefined };
  const redis = connectRedis(config.redis, deps.logger, 'limiter', { commandTimeoutMs: config.dependencyTimeoutMs });
  try {
    await whenReady(redis);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return {
    limiter: new FailoverRateLimiter(
      new RedisRateLimiter(redis, config.nodeId),
      local,
      config.rateLimits.failMode,
      deps.logger,
      deps.onSharedFailure,
      config.rateLimits.sharedTimeoutMs,
    ),
    close: () => redis.disconnect(),
  };
}
