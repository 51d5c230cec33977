import { randomUUID } from 'node:crypto';
import type { FenceFloor, HeldLock, LockContext, LockManager, LockOptions } from './lock-manager.js';
import { runWithExtension } from './run-with-extension.js';

/** Locks in process, for the single-node embedded default. */
export class MemoryLockManager implements LockManager {
  private readonly held = new Map<string, { value: string; expiresAt: number }>();
  private readonly tokens = new Map<string, number>();

  constructor(private readonly fenceFloor: FenceFloor = async () => 0) {}

  async tryAcquire(resource: string, ttlMs: number, options: LockOptions = {}): Promise<HeldLock | undefined> {
    const current = this.held.get(resource);
    if (current !== undefined && current.expiresAt > Date.now()) return undefined;
    const value = randomUUID();
    this.held.set(resource, { value, expiresAt: Date.now() + ttlMs });
    let fencingToken = 0;
    if (options.fenced !== false) {
      // A restarted node continues above what PostgreSQL recorded.
      const counted = this.tokens.get(resource) ?? (await this.fenceFloor(resource));
      fencingToken = counted + 1;
      this.tokens.set(resource, fencingToken);
    }
    return {
      resource,
      fencingToken,
      extend: async (ms) => {
        const now = this.held.get(resource);
        if (now?.value !== value || now.expiresAt <= Date.now()) throw new Error('lock lost');
        now.expiresAt = Date.now() + ms;
      },
      release: async () => {
        if (this.held.get(resource)?.value === value) this.held.delete(resource);
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
    this.tokens.delete(resource);
  }
}
