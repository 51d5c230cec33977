import { describe, expect, it } from 'vitest';
import { GroupCommitter, type ItemResult } from '../../src/stores/postgres/group-commit.js';

function recorder(delayMs = 5) {
  const batches: number[][] = [];
  const commit = async (items: number[]): Promise<ItemResult<number>[]> => {
    batches.push(items);
    await new Promise((r) => setTimeout(r, delayMs));
    return items.map((i) => (i < 0 ? { ok: false, error: new Error(`bad ${i}`) } : { ok: true, value: i * 10 }));
  };
  return { batches, commit };
}

describe('GroupCommitter', () => {
  it('sends a lone item at once, in a batch of one', async () => {
    const { batches, commit } = recorder();
    const committer = new GroupCommitter(commit, { maxBatch: 10, maxWaitMs: 1000, maxInFlight: 2 });
    expect(await committer.submit(1)).toBe(10);
    expect(batches).toEqual([[1]]);
  });

  it('groups concurrent items, never more than maxBatch, and resolves each with its own result', async () => {
    const { batches, commit } = recorder();
    const committer = new GroupCommitter(commit, { maxBatch: 16, maxWaitMs: 2, maxInFlight: 2 });
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => committer.submit(i)));
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i * 10));
    expect(batches.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Math.max(...batches.map((b) => b.length))).toBeLessThanOrEqual(16);
    expect(batches.length).toBeLessThan(20);
  });

  it('keeps submission order inside and across batches', async () => {
    const { batches, commit } = recorder(1);
    const committer = new GroupCommitter(commit, { maxBatch: 7, maxWaitMs: 1, maxInFlight: 1 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => committer.submit(i)));
    expect(batches.flat()).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('fails one item alone when the batch reports it', async () => {
    const { commit } = recorder();
    const committer = new GroupCommitter(commit, { maxBatch: 10, maxWaitMs: 1, maxInFlight: 1 });
    const outcomes = await Promise.allSettled([committer.submit(1), committer.submit(-1), committer.submit(2)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('fails every item of a batch that throws, mapped, and keeps serving', async () => {
    let fail = true;
    const committer = new GroupCommitter<number, number>(
      async (items) => {
        if (fail) throw new Error('database went away');
        return items.map((i) => ({ ok: true, value: i }));
      },
      { maxBatch: 10, maxWaitMs: 1, maxInFlight: 1 },
      (error) => new Error(`mapped: ${(error as Error).message}`),
    );
    const failed = await Promise.allSettled([committer.submit(1), committer.submit(2)]);
    expect(failed.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'ok'))).toEqual([
      'mapped: database went away',
      'mapped: database went away',
    ]);
    fail = false;
    expect(await committer.submit(3)).toBe(3);
  });

  it('commits everything queued on close, then refuses new items', async () => {
    const { commit } = recorder(2);
    const committer = new GroupCommitter(commit, { maxBatch: 4, maxWaitMs: 100, maxInFlight: 1 });
    const pending = Array.from({ length: 10 }, (_, i) => committer.submit(i));
    await committer.close();
    expect(await Promise.all(pending)).toHaveLength(10);
    await expect(committer.submit(99)).rejects.toThrow(/closed/);
  });

  it('fails items still queued past queueTimeoutMs without ever sending them, while the batch in flight waits for its outcome', async () => {
    const batches: number[][] = [];
    let release: () => void = () => undefined;
    const commit = async (items: number[]): Promise<ItemResult<number>[]> => {
      batches.push(items);
      await new Promise<void>((resolve) => (release = resolve));
      return items.map((i) => ({ ok: true, value: i }));
    };
    const committer = new GroupCommitter(
      commit,
      { maxBatch: 10, maxWaitMs: 0, maxInFlight: 1, queueTimeoutMs: 100 },
      () => new Error('expired'),
    );
    const first = committer.submit(1);
    await new Promise((r) => setTimeout(r, 10));
    const queued = [committer.submit(2), committer.submit(3)].map((p) =>
      p.then(
        () => 'committed',
        (e: Error) => e.message,
      ),
    );
    expect(await Promise.all(queued)).toEqual(['expired', 'expired']);
    release();
    expect(await first).toBe(1);
    expect(batches).toEqual([[1]]);
  });
});
