import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import { BullMqQueue } from './bullmq-queue.js';
import type { JobQueue } from './job-queue.js';
import { MemoryQueue } from './memory-queue.js';

/** The ingestion queue the configuration names: BullMQ on REDIS_URL, or in process on the embedded default. */
export function openIngestionQueue(config: Config, logger: Logger): JobQueue {
  const { documents } = config;
  return config.redis.mode === 'external'
    ? new BullMqQueue(
        {
          name: documents.queue,
          redis: config.redis,
          concurrency: documents.concurrency,
          attempts: documents.attempts,
          outageBudgetMs: documents.outageBudgetMs,
          stalledIntervalMs: documents.stalledMs,
        },
        logger,
      )
    : new MemoryQueue(
        { concurrency: documents.concurrency, attempts: documents.attempts, outageBudgetMs: documents.outageBudgetMs },
        logger,
      );
}
