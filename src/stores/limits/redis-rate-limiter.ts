import type { ChainableCommander, Redis } from 'ioredis';
import { RedisBatcher } from '../redis/batcher.js';
import { defineScript } from '../redis/scripts.js';
import type { LimitResult, LimitRule, RateLimiter } from './rate-limiter.js';

type LimiterPipeline = ChainableCommander & { slidingWindow(key: string, windowMs: number, limit: number, member: string): ChainableCommander };

/**
 * The sliding-window log in Redis, one Lua script per check (sliding-window-1.lua); the
 * checks of one event-loop turn go to Redis in one pipeline.
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly batcher: RedisBatcher;
  private counter = 0;

  constructor(
    redis: Redis,
    private readonly nodeId: string,
  ) {
    defineScript(redis, 'sliding-window-1.lua', 'slidingWindow');
    this.batcher = new RedisBatcher(redis);
  }

  async consume(key: string, rule: LimitRule): Promise<LimitResult> {
    const member = `${this.nodeId}:${(this.counter = (this.counter + 1) % Number.MAX_SAFE_INTEGER)}`;
    const [allowed, remaining, retryAfterMs] = await this.batcher.run<[number, number, number]>((pipeline) =>
      (pipeline as LimiterPipeline).slidingWindow(`vh:rl:${key}`, rule.windowMs, rule.limit, member),
    );
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }
}
