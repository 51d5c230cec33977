/** A held lock. */
export interface HeldLock {
  resource: string;
  /** Strictly increasing per resource across the cluster: pass it to fenced writes. */
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
  tryAcquire(resource: string, ttlMs: number): Promise<HeldLock | undefined>;
  /**
   * Runs `work` holding the lock, extending the lease while it runs; returns undefined
   * without running it when the lock is busy.
   */
  using<T>(resource: string, ttlMs: number, work: (context: LockContext) => Promise<T>): Promise<{ result: T } | undefined>;
}
