/** Options of a group committer. */
export interface GroupCommitOptions {
  /** Most items in one batch (`GROUP_COMMIT_MAX_BATCH`). */
  maxBatch: number;
  /**
   * Longest an item waits for companions before its batch is sent, in ms. 0 sends at the
   * next turn of the event loop (`GROUP_COMMIT_MAX_WAIT_MS`).
   */
  maxWaitMs: number;
  /** Batches being committed at once, each holding one connection (`GROUP_COMMIT_MAX_IN_FLIGHT`). */
  maxInFlight: number;
  /**
   * An item still queued this long (its batch never left: the database is slow or gone) is
   * failed with `mapBatchError` and never sent. An item already sent waits for its batch.
   * Default: no limit.
   */
  queueTimeoutMs?: number;
}

/** Per-item outcome of a batch: a value, or an error for that item alone. */
export type ItemResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Pending<T, R> {
  item: T;
  queuedAt: number;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects concurrent submissions into batches and hands each batch to `commit`, which
 * returns one result per item (same order). A caller's promise settles only after the
 * batch holding its item has committed or failed. If `commit` throws, every item of that
 * batch fails with `mapBatchError(error)` and the others are unaffected.
 *
 * Batches leave when full, when the oldest waiting item has waited `maxWaitMs`, or at once
 * when nothing is in flight (so a lone writer pays no waiting); at most `maxInFlight` run
 * together, and items queue meanwhile, which is what makes batches grow with load.
 */
export class GroupCommitter<T, R> {
  private queue: Pending<T, R>[] = [];
  private inFlight = 0;
  private timer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private closed = false;
  private idleWaiters: Array<() => void> = [];
  private batches = 0;
  private items = 0;

  constructor(
    private readonly commit: (items: T[]) => Promise<ItemResult<R>[]>,
    private readonly options: GroupCommitOptions,
    private readonly mapBatchError: (error: unknown) => unknown = (e) => e,
  ) {}

  /** Queues one item; resolves with its committed result. */
  submit(item: T): Promise<R> {
    if (this.closed) return Promise.reject(this.mapBatchError(new Error('the committer is closed')));
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, queuedAt: Date.now(), resolve, reject });
      this.schedule();
      this.watchDeadlines();
    });
  }

  /** Batches and items committed so far (for metrics and the benchmark). */
  stats(): { batches: number; items: number } {
    return { batches: this.batches, items: this.items };
  }

  /** Number of items waiting for a batch. */
  get waiting(): number {
    return this.queue.length;
  }

  /** Refuses new items and resolves once everything queued has been committed. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.queue.length > 0 || this.inFlight > 0) {
      this.dispatch();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private expiryTimer: NodeJS.Timeout | undefined;

  /** While items wait, fails those past the queue deadline (the oldest are at the front). */
  private watchDeadlines(): void {
    const limit = this.options.queueTimeoutMs;
    if (limit === undefined || this.expiryTimer !== undefined) return;
    const check = (): void => {
      this.expiryTimer = undefined;
      const cutoff = Date.now() - limit;
      let expired = 0;
      while (expired < this.queue.length && (this.queue[expired] as Pending<T, R>).queuedAt <= cutoff) expired++;
      if (expired > 0) {
        const error = this.mapBatchError(new Error(`waited more than ${limit} ms for a batch`));
        for (const pending of this.queue.splice(0, expired)) pending.reject(error);
      }
      if (this.queue.length > 0) {
        this.expiryTimer = setTimeout(check, Math.min(limit, 100));
        this.expiryTimer.unref();
      }
    };
    this.expiryTimer = setTimeout(check, Math.min(limit, 100));
    this.expiryTimer.unref();
  }

  private schedule(): void {
    if (this.inFlight >= this.options.maxInFlight) return; // a finishing batch dispatches
    const full = this.queue.length >= this.options.maxBatch;
    // Already due; a full batch does not wait out a pending maxWaitMs.
    if (this.immediate !== undefined || (this.timer !== undefined && !full)) return;
    if (full || this.inFlight === 0 || this.options.maxWaitMs === 0) {
      // After this turn of the event loop, so that items submitted in the same turn share
      // the batch (setImmediate: a zero setTimeout would wait a whole millisecond).
      clearTimeout(this.timer);
      this.timer = undefined;
      this.immediate = setImmediate(() => {
        this.immediate = undefined;
        this.dispatch();
      });
    } else this.timer = setTimeout(() => this.dispatch(), this.options.maxWaitMs);
  }

  private dispatch(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    this.immediate = undefined;
    while (this.queue.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.queue.splice(0, this.options.maxBatch);
      this.inFlight++;
      this.batches++;
      this.items += batch.length;
      void this.run(batch);
      if (this.queue.length < this.options.maxBatch) break;
    }
    if (this.queue.length > 0) this.schedule();
  }

  private async run(batch: Pending<T, R>[]): Promise<void> {
    try {
      const results = await this.commit(batch.map((p) => p.item));
      batch.forEach((pending, i) => {
        const result = results[i];
        if (result === undefined) pending.reject(new Error('the batch returned no result for an item'));
        else if (result.ok) pending.resolve(result.value);
        else pending.reject(result.error);
      });
    } catch (error) {
      const mapped = this.mapBatchError(error);
      for (const pending of batch) pending.reject(mapped);
    } finally {
      this.inFlight--;
      if (this.queue.length > 0) this.dispatch();
      if (this.queue.length === 0 && this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      else if (this.closed) for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }
}
