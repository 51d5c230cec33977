import { isDependencyFailure } from '../../errors/dependency-failure.js';

/** Processes one job; throwing fails the attempt (it is retried with backoff). */
export type JobHandler = (id: string, attempt: number) => Promise<void>;

/** Called when a job failed its last attempt. */
export type JobFailedHandler = (id: string, error: unknown) => Promise<void>;

/**
 * The delay before a job runs again after an attempt that met a dependency outage, or
 * undefined when the failure counts as an attempt: it was not an outage (a lost or refused
 * connection, a timeout: `isDependencyFailure`), or the job has been waiting out outages
 * for `budgetMs` since `outageSince` (the first one; undefined before it). The delay
 * doubles from 1 s to 30 s with each earlier deferral (`deferrals`).
 */
export function outageDeferral(
  error: unknown,
  deferrals: number,
  outageSince: number | undefined,
  budgetMs: number,
): number | undefined {
  if (!isDependencyFailure(error) || (outageSince !== undefined && Date.now() - outageSince >= budgetMs))
    return undefined;
  return Math.min(30_000, 1_000 * 2 ** Math.min(deferrals, 5));
}

/**
 * Background jobs identified by an id (a document id): added once however often they are
 * enqueued while pending, retried with backoff, and picked up again by another worker when
 * the one running it dies (BullMQ on Redis), or run in process on the embedded default.
 * An attempt that fails because a store is down is not counted: the job waits the outage
 * out (`outageDeferral`), so a short outage never fails a document.
 */
export interface JobQueue {
  /**
   * Adds the job unless it is waiting, delayed for a retry or running already, on any node
   * (then it is still one job); a finished one, done or failed, is added again. Ids are
   * document ids: BullMQ refuses an id that is an integer or contains ':'.
   */
  enqueue(id: string): Promise<void>;
  /** True while the job waits, is delayed for a retry, or runs (on any node); false once it finished, either way. */
  has(id: string): Promise<boolean>;
  /**
   * Starts processing with `concurrency` jobs at a time on this node. A job runs until an
   * attempt succeeds, `attempts` attempts at most, numbered from 1 for the handler; an
   * attempt that met a dependency outage is not counted (`outageDeferral`). After the last
   * attempt failed, `onFailed` is called once, with its error. A job whose worker died runs
   * again on another node, so a handler must tolerate running a job twice.
   */
  start(handler: JobHandler, onFailed: JobFailedHandler): void;
  /**
   * Stops starting jobs on this node and lets the attempts running here finish before it
   * resolves; a shared queue waits a few seconds at most (an attempt cut short runs again on
   * another node).
   */
  close(): Promise<void>;
}
