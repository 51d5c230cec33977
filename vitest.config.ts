import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/helpers/longest-first.js';

/**
 * The realtime and limits suites again with every node on the three-master Redis Cluster
 * (REDIS_CLUSTER_NODES instead of REDIS_URL): between them they use Redis every way a node
 * does (adapter, ordered channels, limiter, streams, presence, caches, turns, locks, the
 * ingestion queue). The store adapters' own cluster tests run in the main project.
 */
export const REDIS_CLUSTER_FILES = [
  'test/realtime/messages.test.ts',
  'test/realtime/sessions.test.ts',
  'test/realtime/streams.test.ts',
  'test/realtime/barge-in.test.ts',
  'test/realtime/audio.test.ts',
  'test/realtime/rate-limits.test.ts',
  'test/realtime/message-relay.test.ts',
  'test/realtime/documents.test.ts',
  'test/realtime/turn-latency.test.ts',
  'test/realtime/live-audio.test.ts',
  'test/realtime/agent-dispatch.test.ts',
  'test/realtime/transcripts.test.ts',
  'test/integration/cluster-view.test.ts',
  'test/overload/limits.test.ts',
  'test/overload/drain.test.ts',
];

// Set by `npm test` once the test services run (test/infra/services.sh); without it (a run
// of unit tests, or vitest by hand without the cluster) there is no second project.
const redisCluster = process.env['TEST_REDIS_CLUSTER_NODES'];

export default defineConfig({
  test: {
    globalSetup: ['test/helpers/global-setup.ts'],
    pool: 'forks',
    // Two test files at a time: most start nodes and share one set of real services, and
    // together they keep this machine's two cores busy.
    maxWorkers: 2,
    // The files that take minutes first (test/helpers/longest-first.ts).
    sequence: { sequencer: LongestFirst },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'] } },
      ...(redisCluster === undefined || redisCluster === ''
        ? []
        : [
            {
              extends: true,
              test: { name: 'redis-cluster', include: REDIS_CLUSTER_FILES, env: { REDIS_CLUSTER_NODES: redisCluster } },
            },
          ]),
    ],
  },
});
