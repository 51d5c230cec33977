import { ExecutionError, type Lock, Redlock, ResourceLockedError } from '@sesamecare-oss/redlock';
import { AppError } from '../../errors/app-error.js';
import { keys } from '../names.js';
import type { RedisClient } from '../redis/connection.js';
import type { FenceFloor, HeldLock, LockContext, LockManager, LockOptions } from './lock-manager.js';
import { runWithExtension } from './run-with-extension.js';

/** A fencing counter unused this long goes (it starts again above PostgreSQL's record). */
const FENCE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Redlock (`@sesamecare-oss/redlock`, the maintained fork): a lease per resource that only
 * its holder can extend or release, on the cluster's Redis, or with LOCK_REDIS_URLS on
 * several independent masters, of which a majority must grant it (Redlock as designed: a
 * minority of masters may be down; with a majority down, acquiring fails with UNAVAILABLE
 * rather than reporting the resource as held). After acquiring, INCR of
 * `vh:fence:<resource>` gives the fencing token. The counter expires after a week unused;
 * a counter that starts again (expired, or Redis lost it) continues above the highest token
 * PostgreSQL recorded (`fenceFloor`), so fencing never goes backwards.
 */
export class RedisLockManager implements LockManager {
  private readonly redlock: Redlock;
  /** Several masters: a failed majority is UNAVAILABLE, not "held". */
  private readonly majority: boolean;

  constructor(
    private readonly redis: RedisClient,
    private readonly fenceFloor: FenceFloor = async () => 0,
    /** Independent masters that grant leases by majority (LOCK_REDIS_URLS); default the cluster's Redis alone. */
    masters: readonly RedisClient[] = [redis],
  ) {
    this.redlock = new Redlock([...masters], { retryCount: 0, driftFactor: 0.01 });
    this.majority = masters.length > 1;
    // Failed extensions surface through the work's abort signal; keep the emitter quiet.
    this.redlock.on('error', () => undefined);
  }

  async tryAcquire(resource: string, ttlMs: number, options: LockOptions = {}): Promise<HeldLock | undefined> {
    let lock: Lock;
    try {
      lock = await this.redlock.acquire([keys.lock(resource)], ttlMs);
    } catch (error) {
      if (error instanceof ResourceLockedError) return undefined;
      if (error instanceof ExecutionError) {
        // One Redis that fails counts as held (callers wait and retry, as before Redlock
        // had several masters).
        if (!this.majority) return undefined;
        // No majority: held elsewhere when a majority says so; otherwise too many masters
        // failed to answer to tell.
        const attempts = await Promise.all(error.attempts);
        const unreachable = attempts.find((attempt) => {
          const held = [...attempt.votesAgainst.values()].filter((e) => e instanceof ResourceLockedError).length;
          return held < attempt.quorumSize;
        });
        if (unreachable === undefined) return undefined;
        const cause = [...unreachable.votesAgainst.values()].find((e) => !(e instanceof ResourceLockedError));
        throw new AppError('UNAVAILABLE', {
          message: 'the lock servers did not grant a majority (some are unreachable)',
          retryAfterMs: 1_000,
          cause,
        });
      }
      throw error;
    }
    let fencingToken = 0;
    try {
      if (options.fenced !== false) fencingToken = await this.nextToken(resource);
    } catch (error) {
      await lock.release().catch(() => undefined);
      throw error;
    }
    let current = lock;
    return {
      resource,
      fencingToken,
      extend: async (ms) => {
        current = await current.extend(ms);
      },
      release: async () => {
        await current.release().catch(() => undefined);
      },
    };
  }

  async using<T>(
    resource: string,
    ttlMs: number,
    work: (context: LockContext) => Promise<T>,
    options: LockOptions = {},
  ): Promise<{ result: T } | undefined> {
    const lock = await this.tryAcquire(resource, ttlMs, options);
    return lock === undefined ? undefined : runWithExtension(lock, ttlMs, work);
  }

  async forget(resource: string): Promise<void> {
    await this.redis.del(keys.fence(resource));
  }

  /** INCR, seeded from PostgreSQL's record when the counter starts again; only the holder calls it. */
  private async nextToken(resource: string): Promise<number> {
    const key = keys.fence(resource);
    const [[, counted]] = (await this.redis.multi().incr(key).pexpire(key, FENCE_TTL_MS).exec()) as [
      [Error | null, number],
    ];
    if (counted !== 1) return counted;
    const floor = await this.fenceFloor(resource);
    if (floor < 1) return 1;
    await this.redis.set(key, floor + 1, 'PX', FENCE_TTL_MS);
    return floor + 1;
  }
}
