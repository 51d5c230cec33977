/** Options of `retryInBackground`. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 12 (about a minute with the default delays). */
  attempts?: number;
  /** Delay before the second attempt, doubled for each further one. Default 100 ms. */
  firstDelayMs?: number;
  /** Longest delay between two attempts. Default 10 s. */
  maxDelayMs?: number;
}

/**
 * Runs `work` now and, while it fails, again with exponential backoff, without making the
 * caller wait: for follow-up work of a change that is already committed (dropping caches,
 * announcing it), which must neither fail the change nor be given up on the first error.
 * `onGiveUp` gets the last error when every attempt failed.
 */
export function retryInBackground(
  work: () => Promise<void>,
  onGiveUp: (error: unknown) => void,
  options: RetryOptions = {},
): void {
  const attempts = options.attempts ?? 12;
  const first = options.firstDelayMs ?? 100;
  const max = options.maxDelayMs ?? 10_000;
  const attempt = (n: number): void => {
    work().catch((error: unknown) => {
      if (n + 1 >= attempts) {
        onGiveUp(error);
        return;
      }
      const timer = setTimeout(() => attempt(n + 1), Math.min(max, first * 2 ** n));
      timer.unref();
    });
  };
  attempt(0);
}
