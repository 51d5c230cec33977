import { describe, expect, it } from 'vitest';
import { FollowUps } from '../../src/util/follow-ups.js';

describe('follow-ups of committed changes', () => {
  it('retries work until it succeeds, and settles once every follow-up is done', async () => {
    const followUps = new FollowUps({ firstDelayMs: 1 });
    let calls = 0;
    followUps.run(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
      },
      () => expect.fail('gave up'),
    );
    expect(await followUps.settled(5_000)).toBe(true);
    expect(calls).toBe(3);
    expect(await followUps.settled(0)).toBe(true);
  });

  it('gives up after its attempts with the last error, which also settles it', async () => {
    const followUps = new FollowUps({ attempts: 2, firstDelayMs: 1 });
    const errors: unknown[] = [];
    followUps.run(
      () => Promise.reject(new Error('down')),
      (error) => errors.push(error),
    );
    expect(await followUps.settled(5_000)).toBe(true);
    expect(errors).toEqual([new Error('down')]);
  });

  it('answers false when the wait is over first, and the work goes on', async () => {
    const followUps = new FollowUps();
    let release: () => void = () => undefined;
    let done = false;
    followUps.run(
      () =>
        new Promise<void>((resolve) => {
          release = () => {
            done = true;
            resolve();
          };
        }),
      () => undefined,
    );
    expect(await followUps.settled(20)).toBe(false);
    release();
    expect(await followUps.settled(1_000)).toBe(true);
    expect(done).toBe(true);
  });
});
