/** Processes one job; throwing fails the attempt (it is retried with backoff). */
export type JobHandler = (id: string, attempt: number) => Promise<void>;

/** Called when a job failed its last attempt. */
export type JobFailedHandler = (id: string, error: unknown) => Promise<void>;

/**
 * Background jobs identified by an id (a document id): added once however often they are
 * enqueued while pending, retried with backoff, and picked up again by another worker when
 * the one running it dies (BullMQ on Redis), or run in process on the embedded default.
 */
export interface JobQueue {
  /** Adds the job unless it is waiting or running already (a finished one is added again). */
  enqueue(id: string): Promise<void>;
  /** True while the job waits, is delayed for a retry, or runs (on any node). */
  has(id: string): Promise<boolean>;
  /** Starts processing with `concurrency` jobs at a time on this node. */
  start(handler: JobHandler, onFailed: JobFailedHandler): void;
  close(): Promise<void>;
}
