import { type RateLimiterAbstract, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import {
  type Config,
  type FixedLimit,
  fixedLimits,
  type RateLimitedEvent,
  rateLimitedEvents,
} from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { FixedWindows } from '../stores/limits/fixed-windows.js';
import type { LimitRule, RateLimiter } from '../stores/limits/rate-limiter.js';
import { channels, keys } from '../stores/names.js';
import type { ConfigRepository } from '../stores/postgres/repositories/configs.js';
import type { PubSub } from '../stores/pubsub/pubsub.js';

/** The `system_configs` key holding run-time overrides of the limits. */
export const RATE_LIMITS_KEY = 'rate_limits';
/** Channel on which a node announces that a system config changed. */
const CONFIG_CHANNEL = channels.config;

const rule = z
  .object({ limit: z.number().int().min(1).max(1_000_000), windowMs: z.number().int().min(1).max(86_400_000) })
  .strict();

/** Every limit by name: the client events, and the fixed-window and HTTP limits. */
const limitNames = [...rateLimitedEvents, ...fixedLimits] as const;
type LimitName = RateLimitedEvent | FixedLimit;

/** Shape of the `rate_limits` config value: any subset of the limits. */
export const rateLimitOverrides = z
  .object(Object.fromEntries(limitNames.map((name) => [name, rule.optional()])))
  .strict();

type Overrides = Partial<Record<LimitName, LimitRule>>;
/** Limits counted in fixed windows (brute-force protection); `http` is a sliding window per user. */
type FixedName = Exclude<FixedLimit, 'http'>;

function tooMany(retryAfterMs: number): AppError {
  return new AppError('RATE_LIMITED', {
    message: 'too many requests; retry later',
    retryAfterMs: Math.max(1, Math.ceil(retryAfterMs)),
  });
}

/** Options of the rate-limit service. */
export interface RateLimitsOptions {
  config: Config['rateLimits'];
  /** The sliding-window limiter (with its fail-open/closed policy). */
  limiter: RateLimiter;
  configs: ConfigRepository;
  pubsub: PubSub;
  /** Makes the fixed-window limiters (logins, registrations, HTTP). */
  fixedWindows: FixedWindows;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The limits of PROTOCOL section 8. Event limits are exact sliding windows per user
 * (`RateLimiter`); new connections per IP and logins per IP and email are fixed windows
 * with `rate-limiter-flexible`, as users expect of brute-force protection (logins are then
 * blocked for a window), and so are failed sign-ins per account, whatever the address,
 * which backs up the per-address limits against an attack from many addresses. Defaults
 * come from the environment; an admin can override them in
 * `system_configs` (`rate_limits`), and every node reloads when a node announces the
 * change on `vh:config` (and every 10 s in case that announcement is lost).
 */
export class RateLimits {
  private overrides: Overrides = {};
  private fixed = new Map<FixedName, { rule: LimitRule; limiter: RateLimiterAbstract }>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly options: RateLimitsOptions) {}

  async start(): Promise<void> {
    await this.reload();
    this.unsubscribe = await this.options.pubsub.subscribe(CONFIG_CHANNEL, () => void this.reload());
    this.poller = setInterval(() => void this.reload(), 10_000);
    this.poller.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.poller);
    await this.unsubscribe?.();
  }

  /** Re-reads the overrides from PostgreSQL. */
  async reload(): Promise<void> {
    try {
      const entry = await this.options.configs.get(RATE_LIMITS_KEY);
      const parsed = rateLimitOverrides.safeParse(entry?.value ?? {});
      this.overrides = parsed.success ? (parsed.data as Overrides) : {};
    } catch (error) {
      this.options.logger.warn({ err: error }, 'reloading rate limits failed; keeping the current ones');
    }
  }

  /** Tells every node that a config changed. */
  async announce(key: string): Promise<void> {
    await this.options.pubsub.publish(CONFIG_CHANNEL, key);
  }

  /** The rule in force for a limit. */
  rule(name: LimitName): LimitRule {
    const base = (fixedLimits as readonly string[]).includes(name)
      ? this.options.config[name as FixedLimit]
      : this.options.config.events[name as RateLimitedEvent];
    return this.overrides[name] ?? base;
  }

  /**
   * Counts one `event` (or authenticated HTTP request) of `userId`; throws RATE_LIMITED
   * (with retryAfterMs) past the limit. `scale` multiplies the limit: a worker's socket
   * speaks for the sessions it serves (its registered capacity), not for one user.
   */
  async check(event: RateLimitedEvent | 'http', userId: string, scale = 1): Promise<void> {
    const rule = this.rule(event);
    const result = await this.options.limiter.consume(
      `${event}:${userId}`,
      scale > 1 ? { limit: rule.limit * scale, windowMs: rule.windowMs } : rule,
    );
    if (!result.allowed) {
      this.options.metrics.rateLimited.inc({ limit: event });
      throw tooMany(result.retryAfterMs);
    }
  }

  /** Counts one new connection from `ip`. */
  checkConnection(ip: string): Promise<void> {
    return this.consumeFixed('connections', ip);
  }

  /**
   * Counts one sign-in attempt with the password of the account `email` (a login, or a
   * signed-in user's current password) from `ip`: one from `ip` whatever the email
   * (password spraying), one for `email` from `ip`, and one for the account from anywhere,
   * which `signedIn` gives back when the password was right, so that the account's window
   * counts failures only. Throws RATE_LIMITED past any of them.
   */
  async checkLogin(ip: string, email: string): Promise<void> {
    await this.checkFromAddress(ip, email);
    await this.consumeFixed('loginAccount', email.toLowerCase());
  }

  /** The attempt counted by `checkLogin` succeeded: it is not a failure of the account. Never throws. */
  async signedIn(email: string): Promise<void> {
    try {
      await this.fixedLimiter('loginAccount').reward(email.toLowerCase());
    } catch (error) {
      this.options.logger.warn({ err: error }, 'giving back a sign-in attempt failed; it counts as a failure');
    }
  }

  /**
   * Counts one exchange of the API key `key` from `ip` like a login of it (per address and
   * per address and key). Not per key from anywhere: a key's secret cannot be guessed, and
   * a limit on it would let anyone who knows a key's id lock its workers out.
   */
  checkKeyExchange(ip: string, key: string): Promise<void> {
    return this.checkFromAddress(ip, key);
  }

  /** One credential attempt from `ip` (password spraying), and one for `subject` from `ip`. */
  private async checkFromAddress(ip: string, subject: string): Promise<void> {
    await this.consumeFixed('loginIp', ip);
    await this.consumeFixed('login', `${ip}:${subject.toLowerCase()}`);
  }

  /** Counts one registration from `ip`. */
  checkRegister(ip: string): Promise<void> {
    return this.consumeFixed('register', ip);
  }

  /**
   * Counts one token refresh or logout from `ip` (one window for both): each looks up a
   * refresh token anyone may send, so unlimited they would let anyone guess tokens and
   * make the node query PostgreSQL at will.
   */
  checkRefresh(ip: string): Promise<void> {
    return this.consumeFixed('refresh', ip);
  }

  private async consumeFixed(name: FixedName, key: string): Promise<void> {
    try {
      await this.fixedLimiter(name).consume(key);
    } catch (error) {
      if (error instanceof RateLimiterRes) {
        this.options.metrics.rateLimited.inc({ limit: name });
        throw tooMany(error.msBeforeNext);
      }
      this.options.metrics.rateLimiterFailures.inc();
      throw new AppError('UNAVAILABLE', { message: 'rate limiting is unavailable; retry', cause: error });
    }
  }

  private fixedLimiter(name: FixedName): RateLimiterAbstract {
    const wanted = this.rule(name);
    const current = this.fixed.get(name);
    if (current !== undefined && current.rule.limit === wanted.limit && current.rule.windowMs === wanted.windowMs)
      return current.limiter;
    const limiter = this.options.fixedWindows(
      {
        // The rule is part of the key: a changed limit starts fresh windows.
        keyPrefix: keys.fixedWindow(name, wanted.limit, wanted.windowMs),
        points: wanted.limit,
        duration: Math.max(1, Math.round(wanted.windowMs / 1000)),
        ...(name === 'login' || name === 'loginIp'
          ? { blockDuration: Math.max(1, Math.round(wanted.windowMs / 1000)) }
          : {}),
      },
      { failOpen: this.options.config.failMode === 'open' },
    );
    this.fixed.set(name, { rule: wanted, limiter });
    return limiter;
  }
}
