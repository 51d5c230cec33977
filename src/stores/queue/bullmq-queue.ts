import { type ConnectionOptions, DelayedError, type Job, Queue, Worker } from 'bullmq';
import { Cluster } from 'ioredis';
import type { Logger } from '../../logger.js';
import { RESP, type RedisTarget, redisEndpoints } from '../redis/connection.js';
import { type JobFailedHandler, type JobHandler, type JobQueue, outageDeferral } from './job-queue.js';

/** Options of the BullMQ queue. */
export interface BullMqQueueOptions {
  name: string;
  /** The cluster's Redis (REDIS_URL or REDIS_CLUSTER_NODES). */
  redis: RedisTarget;
  concurrency: number;
  attempts: number;
  /** How long a job waits out dependency outages before their failures count as attempts. */
  outageBudgetMs: number;
  /** A job whose worker stopped renewing its lock for this long is picked up again. */
  stalledIntervalMs: number;
}

/**
 * BullMQ's connection: options for one Redis, or a Cluster client (BullMQ duplicates it for
 * its blocking connections but never closes one it was given: `owned` collects them for
 * `close`). On a cluster every key of the queue carries the prefix's hash tag, so its
 * scripts find their keys in one slot.
 */
function connection(redis: RedisTarget, owned: Cluster[]): ConnectionOptions {
  if (redis.clusterNodes.length === 0) {
    const { nodes, credentials } = redisEndpoints([redis.url]);
    return { ...nodes[0], ...credentials, maxRetriesPerRequest: null, protocol: RESP };
  }
  const { nodes, credentials } = redisEndpoints(redis.clusterNodes);
  const cluster = new Cluster(nodes, { redisOptions: { ...credentials, maxRetriesPerRequest: null, protocol: RESP } });
  owned.push(cluster);
  return cluster;
}

/**
 * The queue's key prefix: BullMQ's own (`bull`) on one Redis, hash-tagged on a cluster, and
 * behind the namespace's prefix when there is one (BullMQ refuses ioredis' `keyPrefix`).
 */
const prefixOf = (redis: RedisTarget): { prefix?: string } => {
  const namespace = redis.keyPrefix ?? '';
  if (redis.clusterNodes.length > 0) return { prefix: `{${namespace}vh-queue}` };
  return namespace === '' ? {} : { prefix: `${namespace}bull` };
};

/** A job's data: its id, and the outages it waited out (`outageDeferral`). */
interface JobData {
  id: string;
  deferrals?: number;
  outageSince?: number;
}

/** States of a job that will still run (or runs now). */
const LIVE_STATES = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

/** BullMQ on the cluster's Redis: retries with exponential backoff, stalled-job recovery. */
export class BullMqQueue implements JobQueue {
  private readonly queue: Queue;
  private worker: Worker | undefined;
  /** Cluster clients made for BullMQ, which it does not close itself. */
  private readonly owned: Cluster[] = [];

  constructor(
    private readonly options: BullMqQueueOptions,
    private readonly logger: Logger,
  ) {
    this.queue = new Queue(options.name, {
      connection: connection(options.redis, this.owned),
      ...prefixOf(options.redis),
      defaultJobOptions: {
        attempts: options.attempts,
        backoff: { type: 'exponential', delay: 1_000 },
        removeOnComplete: 1_000,
        removeOnFail: 1_000,
      },
    });
    this.queue.on('error', (error) => logger.warn({ err: error }, 'job queue error'));
  }

  async enqueue(id: string): Promise<void> {
    // BullMQ keeps finished jobs for a while and ignores an add under an id it holds.
    const existing = await this.queue.getJob(id);
    if (existing !== undefined) {
      const state = await existing.getState();
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return;
      await existing.remove();
    }
    await this.queue.add('job', { id }, { jobId: id });
  }

  async has(id: string): Promise<boolean> {
    const job = await this.queue.getJob(id);
    if (job === undefined) return false;
    return LIVE_STATES.has(await job.getState());
  }

  start(handler: JobHandler, onFailed: JobFailedHandler): void {
    this.worker = new Worker(
      this.options.name,
      async (job: Job<JobData>, token?: string) => {
        try {
          await handler(String(job.data.id), job.attemptsMade + 1);
        } catch (error) {
          const deferrals = job.data.deferrals ?? 0;
          const deferral = outageDeferral(error, deferrals, job.data.outageSince, this.options.outageBudgetMs);
          if (deferral === undefined) throw error;
          // Not an attempt: the job goes back to the delayed set and runs again later.
          this.logger.warn(
            { err: error, jobId: job.data.id, retryInMs: deferral },
            'job waits out a dependency outage',
          );
          await job.updateData({
            ...job.data,
            deferrals: deferrals + 1,
            outageSince: job.data.outageSince ?? Date.now(),
          });
          await job.moveToDelayed(Date.now() + deferral, token);
          throw new DelayedError();
        }
      },
      {
        connection: connection(this.options.redis, this.owned),
        ...prefixOf(this.options.redis),
        concurrency: this.options.concurrency,
        stalledInterval: this.options.stalledIntervalMs,
        lockDuration: this.options.stalledIntervalMs,
      },
    );
    this.worker.on('failed', (job, error) => {
      if (job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        void onFailed(String((job.data as { id: string }).id), error).catch((e: unknown) =>
          this.logger.error({ err: e }, 'recording a failed job failed'),
        );
      }
    });
    this.worker.on('error', (error) => this.logger.warn({ err: error }, 'job worker error'));
  }

  /**
   * Lets running jobs finish for up to 5 s, then stops (an interrupted job is retried
   * elsewhere). Each step is bounded: after a Redis outage BullMQ's close can wait forever,
   * and then the connections are simply dropped.
   */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker !== undefined && !(await settlesWithin(worker.close(), 5_000))) {
      if (!(await settlesWithin(worker.close(true), 2_000))) await settlesWithin(worker.disconnect(), 1_000);
    }
    if (!(await settlesWithin(this.queue.close(), 2_000))) await settlesWithin(this.queue.disconnect(), 1_000);
    for (const cluster of this.owned) cluster.disconnect();
  }
}

/** True when `promise` settled (either way) within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}
