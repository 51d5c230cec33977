import { MemoryQueue } from '../../src/stores/queue/memory-queue.js';
import { jobQueueContract } from '../contract/job-queue.contract.js';
import { testLogger } from '../helpers/env.js';

jobQueueContract({
  name: 'embedded: in process',
  create: ({ concurrency, attempts, outageBudgetMs }) =>
    new MemoryQueue({ concurrency, attempts, outageBudgetMs, backoffMs: 10 }, testLogger()),
  shared: false,
});
