import { afterEach, describe, expect, it } from 'vitest';
import type { JobQueue } from '../../src/stores/queue/job-queue.js';
import { eventually } from '../helpers/cluster.js';
import { uniqueName } from '../helpers/env.js';

/** Settings of a queue opened by the contract suite. */
export interface JobQueueSettings {
  /** The queue's name: nodes that open one name open one queue. */
  name: string;
  concurrency: number;
  attempts: number;
  outageBudgetMs: number;
}

/** How a JobQueue is created for the contract suite. */
export interface JobQueueSuiteOptions {
  name: string;
  /** A queue as one node opens it. */
  create: (settings: JobQueueSettings) => JobQueue;
  /**
   * Nodes that open one name share the queue: a job enqueued on one is seen and run by any,
   * and one whose worker dies is run by another. False in process: a queue per process.
   */
  shared: boolean;
}

/** What a failing store throws: a refused connection (an outage, `isDependencyFailure`). */
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

/** A promise with its resolve function. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** What the handlers saw: each run as [id, attempt], each reported failure as [id, message]. */
function recorder() {
  const runs: [string, number][] = [];
  const failed: [string, string][] = [];
  const onFailed = async (id: string, error: unknown) => {
    failed.push([id, error instanceof Error ? error.message : String(error)]);
  };
  return { runs, failed, onFailed };
}

const byId = (x: [string, number], y: [string, number]) => (`${x[0]}:${x[1]}` < `${y[0]}:${y[1]}` ? -1 : 1);

/** Once-only enqueueing, attempts and retries, outages, concurrency and closing, for every job queue. */
export function jobQueueContract(options: JobQueueSuiteOptions): void {
  describe(`JobQueue contract: ${options.name}`, () => {
    const open: JobQueue[] = [];
    /** A queue on a fresh name, unless one is given; closed after the test. */
    const queue = (settings: Partial<JobQueueSettings> = {}) => {
      const q = options.create({
        name: uniqueName('queue'),
        concurrency: 1,
        attempts: 1,
        outageBudgetMs: 60_000,
        ...settings,
      });
      open.push(q);
      return q;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((q) => q.close()));
    });
    const finished = (q: JobQueue, ...ids: string[]) =>
      eventually(async () => expect(await Promise.all(ids.map((id) => q.has(id)))).toEqual(ids.map(() => false)));

    it('runs a job enqueued before the start once, as attempt 1, and has it until it finished', async () => {
      const q = queue();
      const { runs, failed, onFailed } = recorder();
      const id = uniqueName('job');
      await q.enqueue(id);
      expect(await q.has(id)).toBe(true);
      expect(await q.has(uniqueName('job'))).toBe(false);
      q.start(async (jobId, attempt) => void runs.push([jobId, attempt]), onFailed);
      await finished(q, id);
      expect(runs).toEqual([[id, 1]]);
      expect(failed).toEqual([]);
    });

    it('adds a job once however often it is enqueued while waiting or running, and again once finished', async () => {
      const q = queue();
      const { runs, onFailed } = recorder();
      const id = uniqueName('job');
      for (let i = 0; i < 3; i++) await q.enqueue(id);
      const [started, release] = [signal(), signal()];
      q.start(async (jobId) => {
        runs.push([jobId, runs.length]);
        started.resolve();
        await release.promise;
      }, onFailed);
      await started.promise;
      await q.enqueue(id);
      expect(await q.has(id)).toBe(true);
      release.resolve();
      // Had a second job been added, has() would stay true until it ran.
      await finished(q, id);
      expect(runs).toEqual([[id, 0]]);
      await q.enqueue(id);
      await eventually(() =>
        expect(runs).toEqual([
          [id, 0],
          [id, 1],
        ]),
      );
      await finished(q, id);
    });

    it('retries a failing job up to its attempts, then reports its last error once', async () => {
      const q = queue({ attempts: 2, concurrency: 2 });
      const { runs, failed, onFailed } = recorder();
      const [bad, flaky] = [uniqueName('bad'), uniqueName('flaky')];
      q.start(async (id, attempt) => {
        runs.push([id, attempt]);
        if (id === bad || attempt === 1) throw new Error(`${id} failed attempt ${attempt}`);
      }, onFailed);
      await q.enqueue(bad);
      await q.enqueue(flaky);
      await eventually(() => expect(failed).toEqual([[bad, `${bad} failed attempt 2`]]), 20_000);
      await finished(q, bad, flaky);
      expect([...runs].sort(byId)).toEqual(
        (
          [
            [bad, 1],
            [bad, 2],
            [flaky, 1],
            [flaky, 2],
          ] as [string, number][]
        ).sort(byId),
      );
      expect(failed).toHaveLength(1);
    });

    it('waits out a dependency outage without spending an attempt', async () => {
      const q = queue({ attempts: 1, outageBudgetMs: 60_000 });
      const { runs, failed, onFailed } = recorder();
      const id = uniqueName('job');
      q.start(async (jobId, attempt) => {
        runs.push([jobId, attempt]);
        if (runs.length === 1) throw refused();
      }, onFailed);
      await q.enqueue(id);
      await eventually(() => expect(runs).toHaveLength(2), 20_000);
      await finished(q, id);
      expect(runs).toEqual([
        [id, 1],
        [id, 1],
      ]);
      expect(failed).toEqual([]);
    });

    it('counts outages as attempts once the outage budget is spent', async () => {
      const q = queue({ attempts: 1, outageBudgetMs: 0 });
      const { runs, failed, onFailed } = recorder();
      const id = uniqueName('job');
      q.start(async (jobId, attempt) => {
        runs.push([jobId, attempt]);
        throw refused();
      }, onFailed);
      await q.enqueue(id);
      await eventually(() => expect(failed).toEqual([[id, 'connect ECONNREFUSED 127.0.0.1:5432']]), 20_000);
      // The first outage is waited out (the budget counts from it), the next one is the attempt.
      expect(runs).toEqual([
        [id, 1],
        [id, 1],
      ]);
      await finished(q, id);
    });

    it('runs up to its concurrency of jobs at a time, and never more', async () => {
      const q = queue({ concurrency: 2 });
      const { onFailed } = recorder();
      const ids = Array.from({ length: 6 }, () => uniqueName('job'));
      let running = 0;
      let most = 0;
      let started = 0;
      const waiting: (() => void)[] = [];
      q.start(async () => {
        running++;
        started++;
        most = Math.max(most, running);
        // Each job holds its slot until a second one runs beside it (or no more are coming).
        const go = signal();
        waiting.push(go.resolve);
        if (running === 2 || started === ids.length) for (const resolve of waiting.splice(0)) resolve();
        await go.promise;
        running--;
      }, onFailed);
      for (const id of ids) await q.enqueue(id);
      await finished(q, ...ids);
      expect(started).toBe(ids.length);
      expect(most).toBe(2);
    });

    it('lets a running attempt finish when closed', async () => {
      const q = options.create({ name: uniqueName('queue'), concurrency: 1, attempts: 1, outageBudgetMs: 60_000 });
      const { onFailed } = recorder();
      const [started, release] = [signal(), signal()];
      let done = false;
      q.start(async () => {
        started.resolve();
        await release.promise;
        await new Promise((r) => setTimeout(r, 20));
        done = true;
      }, onFailed);
      await q.enqueue(uniqueName('job'));
      await started.promise;
      const closing = q.close();
      release.resolve();
      await closing;
      expect(done).toBe(true);
    });

    it.runIf(options.shared)(
      'shares one queue between nodes: any node sees a job, and one of them runs it once',
      async () => {
        const name = uniqueName('queue');
        const [a, b] = [queue({ name, concurrency: 2 }), queue({ name, concurrency: 2 })];
        const { runs, onFailed } = recorder();
        const ids = Array.from({ length: 10 }, () => uniqueName('job'));
        for (const [i, id] of ids.entries()) {
          await (i % 2 === 0 ? a : b).enqueue(id);
          expect(await (i % 2 === 0 ? b : a).has(id)).toBe(true);
        }
        // Enqueued again on the other node while waiting: still one job.
        for (const id of ids) await b.enqueue(id);
        a.start(async (id, attempt) => void runs.push([id, attempt]), onFailed);
        b.start(async (id, attempt) => void runs.push([id, attempt]), onFailed);
        await finished(a, ...ids);
        await finished(b, ...ids);
        expect([...runs].sort(byId)).toEqual(ids.map((id): [string, number] => [id, 1]).sort(byId));
      },
    );

    it.runIf(options.shared)(
      'hands a job whose worker died to another node',
      async () => {
        const name = uniqueName('queue');
        const dying = options.create({ name, concurrency: 1, attempts: 1, outageBudgetMs: 60_000 });
        const other = queue({ name });
        const { runs, failed, onFailed } = recorder();
        const started = signal();
        // Never finishes: its worker stops renewing the job's lock once closed for good.
        dying.start(async () => {
          started.resolve();
          await new Promise(() => undefined);
        }, onFailed);
        const id = uniqueName('job');
        await dying.enqueue(id);
        await started.promise;
        other.start(async (jobId, attempt) => void runs.push([jobId, attempt]), onFailed);
        const closed = dying.close();
        await eventually(() => expect(runs.map(([jobId]) => jobId)).toEqual([id]), 25_000);
        await closed;
        await finished(other, id);
        expect(failed).toEqual([]);
      },
      40_000,
    );
  });
}
