import { describe, expect, it } from 'vitest';
import type { RateLimiter } from '../../src/stores/limits/rate-limiter.js';
import { uniqueName } from '../helpers/env.js';

/** The sliding-window behaviour every limiter must have. */
export function rateLimiterContract(options: { name: string; create: () => RateLimiter }): void {
  describe(`RateLimiter contract: ${options.name}`, () => {
    const limiter = options.create();

    it('admits exactly the limit from a concurrent burst', async () => {
      const key = uniqueName('burst');
      const results = await Promise.all(
        Array.from({ length: 40 }, () => limiter.consume(key, { limit: 15, windowMs: 60_000 })),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(15);
    });

    it('reports what remains, and a retry time within the window for refused attempts', async () => {
      const key = uniqueName('exact');
      const rule = { limit: 2, windowMs: 5_000 };
      expect(await limiter.consume(key, rule)).toEqual({ allowed: true, remaining: 1, retryAfterMs: 0 });
      expect(await limiter.consume(key, rule)).toEqual({ allowed: true, remaining: 0, retryAfterMs: 0 });
      const refused = await limiter.consume(key, rule);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(0);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(5_000);
    });

    it('does not let refused attempts extend the window', async () => {
      const key = uniqueName('slide');
      const rule = { limit: 1, windowMs: 300 };
      expect((await limiter.consume(key, rule)).allowed).toBe(true);
      for (let i = 0; i < 5; i++) expect((await limiter.consume(key, rule)).allowed).toBe(false);
      await new Promise((r) => setTimeout(r, 350));
      expect((await limiter.consume(key, rule)).allowed).toBe(true);
    });

    it('applies a lowered limit to the attempts already in the window', async () => {
      const key = uniqueName('shrink');
      for (let i = 0; i < 5; i++) await limiter.consume(key, { limit: 10, windowMs: 5_000 });
      expect((await limiter.consume(key, { limit: 2, windowMs: 5_000 })).allowed).toBe(false);
      expect((await limiter.consume(key, { limit: 6, windowMs: 5_000 })).allowed).toBe(true);
    });

    it('keeps keys apart', async () => {
      const rule = { limit: 1, windowMs: 60_000 };
      expect((await limiter.consume(uniqueName('a'), rule)).allowed).toBe(true);
      expect((await limiter.consume(uniqueName('b'), rule)).allowed).toBe(true);
    });
  });
}
