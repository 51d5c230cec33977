import { AppError } from '../../errors/app-error.js';
import type { Logger } from '../../logger.js';
import { withDeadline } from '../../util/timeout.js';
import type { LimitResult, LimitRule, RateLimiter } from './rate-limiter.js';

/** What a node does when the shared limiter cannot be reached. */
export type LimiterFailMode = 'open' | 'closed';

/**
 * Uses the shared limiter; when it fails, either limits locally (`open`: this node's own
 * in-memory window, so service goes on with per-node limits) or refuses with UNAVAILABLE
 * (`closed`). Every failure is counted; the first of an outage and the recovery are logged.
 * Each check tries the shared limiter first, so the node recovers by itself.
 */
export class FailoverRateLimiter implements RateLimiter {
  private failing = false;

  constructor(
    private readonly shared: RateLimiter,
    private readonly local: RateLimiter,
    private readonly mode: LimiterFailMode,
    private readonly logger: Logger,
    private readonly onFailure: () => void,
    /** How long one shared check may take before the fallback applies (RATE_LIMIT_SHARED_TIMEOUT_MS). */
    private readonly timeoutMs: number,
  ) {}

  async consume(key: string, rule: LimitRule): Promise<LimitResult> {
    try {
      const result = await withDeadline(
        this.shared.consume(key, rule),
        this.timeoutMs,
        () => new Error('rate limiter timed out'),
      );
      if (this.failing) {
        this.failing = false;
        this.logger.info('shared rate limiter reachable again');
      }
      return result;
    } catch (error) {
      this.onFailure();
      if (!this.failing) {
        this.failing = true;
        this.logger.warn({ err: error, mode: this.mode }, 'shared rate limiter unreachable');
      }
      if (this.mode === 'closed')
        throw new AppError('UNAVAILABLE', { message: 'rate limiting is unavailable; retry', cause: error });
      return this.local.consume(key, rule);
    }
  }
}
