import type { HeldLock, LockContext } from './lock-manager.js';

/**
 * Runs `work` while extending `lock` every third of its lease; aborts the context if an
 * extension fails, and releases the lock at the end.
 */
export async function runWithExtension<T>(
  lock: HeldLock,
  ttlMs: number,
  work: (context: LockContext) => Promise<T>,
): Promise<{ result: T }> {
  const controller = new AbortController();
  const timer = setInterval(
    () => {
      lock.extend(ttlMs).catch(() => {
        controller.abort(new Error('lock lost'));
        clearInterval(timer);
      });
    },
    Math.max(10, Math.floor(ttlMs / 3)),
  );
  try {
    return { result: await work({ fencingToken: lock.fencingToken, signal: controller.signal }) };
  } finally {
    clearInterval(timer);
    await lock.release().catch(() => undefined);
  }
}
