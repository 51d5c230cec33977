import { AppError } from '../errors/app-error.js';

/**
 * Runs at most `concurrency` tasks at once and keeps at most `maxWaiting` more in line;
 * a task that finds the line full is refused at once with RATE_LIMITED (retry after
 * `retryAfterMs`), so a flood cannot queue work without bound.
 */
export class WorkQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
    private readonly retryAfterMs = 1_000,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) {
        throw new AppError('RATE_LIMITED', {
          message: 'the server is busy; retry shortly',
          retryAfterMs: this.retryAfterMs,
        });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, or give it back.
      const next = this.waiting.shift();
      if (next !== undefined) next();
      else this.running--;
    }
  }

  /** Tasks running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }
}
