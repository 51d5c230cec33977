/** Outcome of one limiter check. */
export interface LimitResult {
  allowed: boolean;
  /** Attempts still admitted in the current window after this one. */
  remaining: number;
  /** When rejected: milliseconds until an attempt would be admitted (> 0). */
  retryAfterMs: number;
}

/** A sliding-window limit: at most `limit` attempts in any `windowMs`. */
export interface LimitRule {
  limit: number;
  windowMs: number;
}

/**
 * Exact sliding-window rate limiting, shared by all nodes (Redis) or in process. An attempt
 * is admitted when fewer than `limit` were admitted in the last `windowMs`; a rejected
 * attempt is not counted.
 */
export interface RateLimiter {
  consume(key: string, rule: LimitRule): Promise<LimitResult>;
}
