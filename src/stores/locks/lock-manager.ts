/** A held lock. */
export interface HeldLock {
  resource: string;
  /** Strictly increasing per resource across the cluster: pass it to fenced writes (0 when not fenced). */
  fencingToken: number;
  /** Extends the lease by `ttlMs` from now; throws if the lock was lost. */
  extend(ttlMs: number): Promise<void>;
  /** Releases the lock if this holder still holds it; a no-op otherwise. */
  release(): Promise<void>;
}

/** Context of work run under `using`. */
export interface LockContext {
  fencingToken: number;
  /** Aborted when the lease could not be extended (another holder may exist now). */
  signal: AbortSignal;
}

/**
 * Cluster-wide mutual exclusion with leases (Redlock on Redis, or in process), released
 * only by the holder, with a fencing token per acquisition.
 */
export interface LockManager {
  /** Acquires now or returns undefined when another holder has it. */
  tryAcquire(resource: string, ttlMs: number, options?: LockOptions): Promise<HeldLock | undefined>;
  /**
   * Runs `work` holding the lock, extending the lease while it runs; returns undefined
   * without running it when the lock is busy.
   */
  using<T>(
    resource: string,
    ttlMs: number,
    work: (context: LockContext) => Promise<T>,
    options?: LockOptions,
  ): Promise<{ result: T } | undefined>;
  /** Forgets a resource's fencing counter (the resource is gone for good). */
  forget(resource: string): Promise<void>;
}

/** Options of one acquisition. */
export interface LockOptions {
  /**
   * Give the holder a fencing token (default true). Locks that guard no fenced write pass
   * false: no counter is kept for their resource.
   */
  fenced?: boolean;
}

/**
 * The highest fencing token PostgreSQL recorded for a resource (0 when none): a counter
 * lost from Redis (expired, Redis restarted empty, a restore) continues above it, so a
 * fenced write is never refused forever.
 */
export type FenceFloor = (resource: string) => Promise<number>;
