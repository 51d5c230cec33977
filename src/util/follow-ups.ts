/** Options of `FollowUps`. */
export interface FollowUpOptions {
  /** Attempts in all, the first included. Default 12 (about a minute with the default delays). */
  attempts?: number;
  /** Delay before the second attempt, doubled for each further one. Default 100 ms. */
  firstDelayMs?: number;
  /** Longest delay between two attempts. Default 10 s. */
  maxDelayMs?: number;
}

/**
 * Follow-up work of changes that are already committed (dropping caches, announcing the
 * change), which must neither fail the change nor be given up on the first error: each
 * runs now and, while it fails, again with exponential backoff, without making the caller
 * wait. The work still running is tracked, so that a process about to exit (the CLI) can
 * wait for it instead of guessing how long it takes.
 */
export class FollowUps {
  private readonly running = new Set<Promise<void>>();
  private readonly attempts: number;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: FollowUpOptions = {}) {
    this.attempts = options.attempts ?? 12;
    this.firstDelayMs = options.firstDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
  }

  /** Starts `work`; `onGiveUp` gets the last error when every attempt failed. Never throws. */
  run(work: () => Promise<void>, onGiveUp: (error: unknown) => void): void {
    const done = this.retry(work, onGiveUp);
    this.running.add(done);
    void done.finally(() => this.running.delete(done));
  }

  /**
   * Resolves true once every follow-up started so far has succeeded or been given up, or
   * false when `timeoutMs` passed first (what is left goes on).
   */
  async settled(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    // Not unref'd: the waiting process stays alive until one or the other.
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      return await Promise.race([Promise.all([...this.running]).then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async retry(work: () => Promise<void>, onGiveUp: (error: unknown) => void): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await work();
        return;
      } catch (error) {
        if (attempt + 1 >= this.attempts) {
          onGiveUp(error);
          return;
        }
      }
      await new Promise<void>((resolve) =>
        setTimeout(resolve, Math.min(this.maxDelayMs, this.firstDelayMs * 2 ** attempt)).unref(),
      );
    }
  }
}
