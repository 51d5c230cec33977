import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Test files that run on their own after all the others. Every test cluster shares the test
 * Redis, and every node sweeps all open streams in it: the drain test moves a client off a
 * stopping node in the middle of a stream, and a concurrent test's nodes (whose resume grace
 * is 400 ms) could commit that stream as interrupted while the client moves.
 */
const ALONE = ['test/overload/drain.test.ts'];

export default defineConfig({
  test: {
    pool: 'forks',
    // Two test files at a time: most start nodes and share one set of real services.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ALONE],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'alone', include: ALONE, sequence: { groupOrder: 1 } } },
    ],
  },
});
