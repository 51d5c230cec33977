import type { LimitResult, LimitRule, RateLimiter } from './rate-limiter.js';

/**
 * The sliding-window log in process: the embedded default's limiter, and the fail-open
 * fallback of a node that cannot reach Redis (then limits hold per node, not per cluster).
 */
export class MemoryRateLimiter implements RateLimiter {
  private readonly logs = new Map<string, number[]>();
  private sweeps = 0;

  constructor(private readonly now: () => number = Date.now) {}

  async consume(key: string, rule: LimitRule): Promise<LimitResult> {
    const now = this.now();
    const log = (this.logs.get(key) ?? []).filter((t) => t > now - rule.windowMs);
    if (++this.sweeps % 10_000 === 0) this.sweep(now, rule.windowMs);
    if (log.length < rule.limit) {
      log.push(now);
      this.logs.set(key, log);
      return { allowed: true, remaining: rule.limit - log.length, retryAfterMs: 0 };
    }
    this.logs.set(key, log);
    const edge = log[log.length - rule.limit] as number;
    return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, edge + rule.windowMs - now) };
  }

  /** Drops logs with nothing left in their window, so idle keys do not accumulate. */
  private sweep(now: number, windowMs: number): void {
    for (const [key, log] of this.logs) if ((log[log.length - 1] ?? 0) <= now - windowMs) this.logs.delete(key);
  }
}
