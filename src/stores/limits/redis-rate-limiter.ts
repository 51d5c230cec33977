import { keys } from '../names.js';
import type { RedisClient } from '../redis/connection.js';
import { defineScript } from '../redis/scripts.js';
import type { LimitResult, LimitRule, RateLimiter } from './rate-limiter.js';

type LimiterClient = RedisClient & {
  slidingWindow(key: string, windowMs: number, limit: number, member: string): Promise<[number, number, number]>;
};

/** The sliding-window log in Redis, one Lua script per check (sliding-window-1.lua). */
export class RedisRateLimiter implements RateLimiter {
  private readonly redis: LimiterClient;
  private counter = 0;

  constructor(
    redis: RedisClient,
    private readonly nodeId: string,
  ) {
    defineScript(redis, 'sliding-window-1.lua', 'slidingWindow');
    this.redis = redis as LimiterClient;
  }

  async consume(key: string, rule: LimitRule): Promise<LimitResult> {
    const [allowed, remaining, retryAfterMs] = await this.redis.slidingWindow(
      keys.rateLimit(key),
      rule.windowMs,
      rule.limit,
      `${this.nodeId}:${this.nextCounter()}`,
    );
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }

  /** A member id unique within this node, for the sorted set. */
  private nextCounter(): number {
    this.counter = (this.counter + 1) % Number.MAX_SAFE_INTEGER;
    return this.counter;
  }
}
