import { Redlock, ResourceLockedError, ExecutionError } from '@sesamecare-oss/redlock';
import type { Redis } from 'ioredis';
import type { HeldLock, LockContext, LockManager } from './lock-manager.js';
import { runWithExtension } from './run-with-extension.js';

/**
 * Redlock (`@sesamecare-oss/redlock`, the maintained fork) on the cluster's Redis: a lease
 * per resource that only its holder can extend or release; after acquiring, INCR of
 * `vh:fence:<resource>` gives the fencing token.
 */
export class RedisLockManager implements LockManager {
  private readonly redlock: Redlock;

  constructor(private readonly redis: Redis) {
    this.redlock = new Redlock([redis], { retryCount: 0, driftFactor: 0.01 });
    // Failed extensions surface through the work's abort signal; keep the emitter quiet.
    this.redlock.on('error', () => undefined);
  }

  async tryAcquire(resource: string, ttlMs: number): Promise<HeldLock | undefined> {
    let lock;
    try {
      lock = await this.redlock.acquire([`vh:lock:${resource}`], ttlMs);
    } catch (error) {
      if (error instanceof ResourceLockedError || error instanceof ExecutionError) return undefined;
      throw error;
    }
    const fencingToken = await this.redis.incr(`vh:fence:${resource}`);
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

  async using<T>(resource: string, ttlMs: number, work: (context: LockContext) => Promise<T>): Promise<{ result: T } | undefined> {
    const lock = await this.tryAcquire(resource, ttlMs);
    return lock === undefined ? undefined : runWithExtension(lock, ttlMs, work);
  }
}
