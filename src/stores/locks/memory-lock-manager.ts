import { randomUUID } from 'node:crypto';
import type { HeldLock, LockContext, LockManager } from './lock-manager.js';
import { runWithExtension } from './run-with-extension.js';

/** Locks in process, for the single-node embedded default. */
export class MemoryLockManager implements LockManager {
  private readonly held = new Map<string, { value: string; expiresAt: number }>();
  private readonly tokens = new Map<string, number>();

  async tryAcquire(resource: string, ttlMs: number): Promise<HeldLock | undefined> {
    const current = this.held.get(resource);
    if (current !== undefined && current.expiresAt > Date.now()) return undefined;
    const value = randomUUID();
    this.held.set(resource, { value, expiresAt: Date.now() + ttlMs });
    const fencingToken = (this.tokens.get(resource) ?? 0) + 1;
    this.tokens.set(resource, fencingToken);
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

  async using<T>(resource: string, ttlMs: number, work: (context: LockContext) => Promise<T>): Promise<{ result: T } | undefined> {
    const lock = await this.tryAcquire(resource, ttlMs);
    return lock === undefined ? undefined : runWithExtension(lock, ttlMs, work);
  }
}
