import type { Logger } from '../../logger.js';
import { sleep } from '../../util/timeout.js';
import { type JobFailedHandler, type JobHandler, type JobQueue, outageDeferral } from './job-queue.js';

/** In-process jobs for the single-node embedded default: same retries and backoff. */
export class MemoryQueue implements JobQueue {
  private readonly pending: string[] = [];
  private readonly queued = new Set<string>();
  private running = 0;
  private handler: JobHandler | undefined;
  private onFailed: JobFailedHandler | undefined;
  private closed = false;
  private readonly active = new Set<Promise<void>>();

  constructor(
    private readonly options: { concurrency: number; attempts: number; outageBudgetMs: number; backoffMs?: number },
    private readonly logger: Logger,
  ) {}

  async enqueue(id: string): Promise<void> {
    if (this.queued.has(id)) return;
    this.queued.add(id);
    this.pending.push(id);
    this.pump();
  }

  async has(id: string): Promise<boolean> {
    return this.queued.has(id);
  }

  start(handler: JobHandler, onFailed: JobFailedHandler): void {
    this.handler = handler;
    this.onFailed = onFailed;
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.active]);
  }

  private pump(): void {
    while (
      !this.closed &&
      this.handler !== undefined &&
      this.running < this.options.concurrency &&
      this.pending.length > 0
    ) {
      const id = this.pending.shift() as string;
      this.running++;
      const run = this.run(id).finally(() => {
        this.running--;
        this.queued.delete(id);
        this.active.delete(run);
        this.pump();
      });
      this.active.add(run);
    }
  }

  private async run(id: string): Promise<void> {
    let deferrals = 0;
    let outageSince: number | undefined;
    for (let attempt = 1; ; ) {
      try {
        await this.handler?.(id, attempt);
        return;
      } catch (error) {
        const deferral = this.closed
          ? undefined
          : outageDeferral(error, deferrals, outageSince, this.options.outageBudgetMs);
        if (deferral !== undefined) {
          deferrals++;
          outageSince ??= Date.now();
          this.logger.warn({ err: error, jobId: id, retryInMs: deferral }, 'job waits out a dependency outage');
          await sleep(deferral);
          continue;
        }
        if (attempt === this.options.attempts || this.closed) {
          await this.onFailed?.(id, error).catch((e: unknown) =>
            this.logger.error({ err: e }, 'recording a failed job failed'),
          );
          return;
        }
        await sleep((this.options.backoffMs ?? 1_000) * 2 ** (attempt - 1));
        attempt++;
      }
    }
  }
}
