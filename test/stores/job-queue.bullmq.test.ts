import { BullMqQueue } from '../../src/stores/queue/bullmq-queue.js';
import { jobQueueContract } from '../contract/job-queue.contract.js';
import { serviceEnv, testLogger, uniqueName } from '../helpers/env.js';

// In a namespace of its own, as a deployment on a shared Redis would be.
const redis = { url: serviceEnv().REDIS_URL, clusterNodes: [], keyPrefix: `${uniqueName('ns')}:` };

jobQueueContract({
  name: 'BullMQ on Redis (a queue per node)',
  create: ({ name, concurrency, attempts, outageBudgetMs }) =>
    new BullMqQueue({ name, redis, concurrency, attempts, outageBudgetMs, stalledIntervalMs: 1_000 }, testLogger()),
  shared: true,
});
