import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptFencingToken } from '../../src/stores/locks/fencing.js';
import type { LockManager } from '../../src/stores/locks/lock-manager.js';
import { migratedPools } from '../helpers/database.js';
import { serviceEnv, uniqueName } from '../helpers/env.js';

/** How a LockManager is created for the contract suite. */
export interface LockManagerSuiteOptions {
  name: string;
  /** Two managers as two nodes would have (the in-process one: the same instance twice). */
  create: () => Promise<[LockManager, LockManager]>;
  teardown?: () => Promise<void>;
  /**
   * Lease of the extension test, long enough for one extension round trip on a loaded
   * machine (several masters take longer). Default 150 ms.
   */
  leaseMs?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Mutual exclusion, leases, holder-only release and fencing, for every lock manager. */
export function lockManagerContract(options: LockManagerSuiteOptions): void {
  describe(`LockManager contract: ${options.name}`, () => {
    let a: LockManager;
    let b: LockManager;
    let pool: pg.Pool;

    beforeAll(async () => {
      [a, b] = await options.create();
      [pool] = (await migratedPools(serviceEnv().DATABASE_URL, 1, 4)) as [pg.Pool];
    });
    afterAll(async () => {
      await pool.end();
      await options.teardown?.();
    });

    it('lets exactly one of many contenders on two nodes hold a resource at a time', async () => {
      const resource = uniqueName('lock');
      let inside = 0;
      let maxInside = 0;
      let runs = 0;
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          for (let attempt = 0; attempt < 200; attempt++) {
            const done = await (i % 2 === 0 ? a : b).using(resource, 1_000, async () => {
              inside++;
              maxInside = Math.max(maxInside, inside);
              await sleep(2);
              inside--;
              runs++;
            });
            if (done !== undefined) return;
            await sleep(3);
          }
        }),
      );
      expect(maxInside).toBe(1);
      expect(runs).toBe(40);
    });

    it('gives strictly increasing fencing tokens per resource', async () => {
      const resource = uniqueName('lock');
      const tokens: number[] = [];
      for (const manager of [a, b, a, b]) {
        const lock = await manager.tryAcquire(resource, 1_000);
        tokens.push(lock?.fencingToken ?? -1);
        await lock?.release();
      }
      expect(tokens.every((t, i) => i === 0 || t > (tokens[i - 1] as number))).toBe(true);
    });

    it('lets only the holder release, and keeps a lock held past its acquirer attempts', async () => {
      const resource = uniqueName('lock');
      const held = await a.tryAcquire(resource, 5_000);
      expect(held).toBeDefined();
      expect(await b.tryAcquire(resource, 5_000)).toBeUndefined();
      await held?.release();
      const next = await b.tryAcquire(resource, 5_000);
      expect(next).toBeDefined();
      await held?.release(); // the old holder's late release must not free the new holder's lock
      expect(await a.tryAcquire(resource, 5_000)).toBeUndefined();
      await next?.release();
    });

    it("lets a crashed holder's lock expire", async () => {
      const resource = uniqueName('lock');
      expect(await a.tryAcquire(resource, 200)).toBeDefined(); // never released
      expect(await b.tryAcquire(resource, 200)).toBeUndefined();
      await sleep(350);
      expect(await b.tryAcquire(resource, 200)).toBeDefined();
    });

    it('keeps extending the lease of long work, so nobody else gets in meanwhile', async () => {
      const resource = uniqueName('lock');
      const lease = options.leaseMs ?? 150;
      let stolen = false;
      // The work outlasts four leases: only extensions keep it held.
      const work = a.using(resource, lease, async () => {
        for (let i = 0; i < 6; i++) {
          await sleep((lease * 2) / 3);
          if ((await b.tryAcquire(resource, lease)) !== undefined) stolen = true;
        }
      });
      expect(await work).toEqual({ result: undefined });
      expect(stolen).toBe(false);
    });

    it('refuses the late write of a holder that stalled past its lease', async () => {
      const resource = uniqueName('fenced');
      const slow = await a.tryAcquire(resource, 150);
      await sleep(300); // the lease runs out while the holder is paused
      const fast = await b.tryAcquire(resource, 5_000);
      expect(fast).toBeDefined();
      await acceptFencingToken(pool, resource, fast?.fencingToken ?? 0);
      await expect(acceptFencingToken(pool, resource, slow?.fencingToken ?? 0)).rejects.toMatchObject({
        code: 'CONFLICT',
      });
      await acceptFencingToken(pool, resource, fast?.fencingToken ?? 0); // the holder may write again
      await fast?.release();
    });
  });
}
