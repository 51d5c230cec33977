import { describe, expect, it } from 'vitest';
import { isDependencyFailure } from '../../src/errors/dependency-failure.js';
import { createLogger } from '../../src/logger.js';
import { outageDeferral } from '../../src/stores/queue/job-queue.js';
import { MemoryQueue } from '../../src/stores/queue/memory-queue.js';

/** What the Milvus client rejects with while its server is down (a grpc-js ServiceError). */
function grpcUnavailable(): Error {
  return Object.assign(new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED'), {
    code: 14,
    details: 'No connection established',
    metadata: {},
  });
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('waiting out a dependency outage', () => {
  it('recognises gRPC UNAVAILABLE and DEADLINE_EXCEEDED, not other gRPC codes', () => {
    expect(isDependencyFailure(grpcUnavailable())).toBe(true);
    expect(
      isDependencyFailure(Object.assign(new Error('4 DEADLINE_EXCEEDED'), { code: 4, details: 'Deadline exceeded' })),
    ).toBe(true);
    expect(isDependencyFailure(Object.assign(new Error('3 INVALID_ARGUMENT'), { code: 3, details: 'bad' }))).toBe(
      false,
    );
    // A number code without gRPC's details is not taken for one.
    expect(isDependencyFailure(Object.assign(new Error('exit'), { code: 14 }))).toBe(false);
  });

  it('defers only outages, doubling from 1 s to 30 s, until the budget since the first one is spent', () => {
    expect(outageDeferral(new Error('not a PDF'), 0, undefined, 60_000)).toBeUndefined();
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => outageDeferral(refused(), n, Date.now(), 60_000))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
    expect(outageDeferral(refused(), 3, Date.now() - 60_000, 60_000)).toBeUndefined();
  });

  it('runs a job again after an outage without spending an attempt, and fails a bad job after its attempts', async () => {
    const queue = new MemoryQueue(
      { concurrency: 1, attempts: 2, outageBudgetMs: 60_000, backoffMs: 10 },
      createLogger({ level: 'silent', nodeId: 'test' }),
    );
    const runs: Array<[string, number]> = [];
    const failed: string[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    queue.start(
      async (id, attempt) => {
        runs.push([id, attempt]);
        // "down" meets an outage on its first run, then succeeds; "bad" always fails on its own.
        if (id === 'down' && runs.filter(([r]) => r === 'down').length === 1) throw refused();
        if (id === 'bad') throw new Error('unparseable');
        if (id === 'down') done();
      },
      async (id) => {
        failed.push(id);
      },
    );
    await queue.enqueue('bad');
    await queue.enqueue('down');
    await finished;
    await queue.close();
    // The outage was waited out (1 s) and the run after it is still attempt 1.
    expect(runs.filter(([id]) => id === 'down')).toEqual([
      ['down', 1],
      ['down', 1],
    ]);
    expect(runs.filter(([id]) => id === 'bad')).toEqual([
      ['bad', 1],
      ['bad', 2],
    ]);
    expect(failed).toEqual(['bad']);
  });

  it('counts outages as attempts once the budget is spent', async () => {
    const queue = new MemoryQueue(
      { concurrency: 1, attempts: 2, outageBudgetMs: 1, backoffMs: 10 },
      createLogger({ level: 'silent', nodeId: 'test' }),
    );
    const attempts: number[] = [];
    const failed = new Promise<unknown>((resolve) =>
      queue.start(
        async (_id, attempt) => {
          attempts.push(attempt);
          throw refused();
        },
        async (_id, error) => resolve(error),
      ),
    );
    await queue.enqueue('down');
    expect(isDependencyFailure(await failed)).toBe(true);
    await queue.close();
    // One deferral (the budget starts with it), then two counted attempts.
    expect(attempts).toEqual([1, 1, 2]);
  });
});
