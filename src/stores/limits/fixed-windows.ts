import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { RedisClient } from '../redis/connection.js';

/** One fixed-window rule of `rate-limiter-flexible`. */
export interface FixedWindowRule {
  /** Keys of this limiter start with it (a changed rule gets a prefix of its own). */
  keyPrefix: string;
  points: number;
  /** Window in seconds. */
  duration: number;
  /** Seconds a key stays refused once it ran out, when set. */
  blockDuration?: number;
}

/**
 * Makes the limiter of a fixed-window rule: shared by the nodes in Redis, or in process on
 * the embedded default. `failOpen` (RATE_LIMIT_FAIL_MODE=open) lets a Redis that does not
 * answer fall back to this node's own count instead of refusing.
 */
export type FixedWindows = (rule: FixedWindowRule, options: { failOpen: boolean }) => RateLimiterAbstract;

/** The fixed-window limiters of a node: in Redis when nodes share one, else in process. */
export function openFixedWindows(deps: { redis: RedisClient | undefined }): FixedWindows {
  const { redis } = deps;
  return (rule, { failOpen }) => {
    const local = new RateLimiterMemory(rule);
    if (redis === undefined) return local;
    return new RateLimiterRedis({ ...rule, storeClient: redis, ...(failOpen ? { insuranceLimiter: local } : {}) });
  };
}
