import { describe, expect, it } from 'vitest';
import type { Cache } from '../../src/stores/cache/cache.js';
import { eventually } from '../helpers/cluster.js';
import { uniqueName } from '../helpers/env.js';

/** How a Cache is created for the contract suite. */
export interface CacheSuiteOptions {
  name: string;
  /** Two handles on one cache, as two nodes would have (in process: the same instance twice). */
  create: () => Promise<[Cache, Cache]>;
}

/** Values, replacement, expiry and removal, for every cache. */
export function cacheContract(options: CacheSuiteOptions): void {
  describe(`Cache contract: ${options.name}`, () => {
    it('gives back what was set, from either node, and undefined for a key never set', async () => {
      const [a, b] = await options.create();
      const values = ['plain', '{"name":"世界","n":1}', '', ' spaced\nlines '];
      const keys = values.map(() => uniqueName('cache'));
      for (const [i, key] of keys.entries()) await a.set(key, values[i] as string, 60);
      expect(await Promise.all(keys.map((key) => b.get(key)))).toEqual(values);
      expect(await b.get(uniqueName('cache'))).toBeUndefined();
    });

    it('replaces both the value and its expiry on set', async () => {
      const [a, b] = await options.create();
      const [key, marker] = [uniqueName('cache'), uniqueName('marker')];
      await a.set(key, 'first', 1);
      await a.set(marker, 'expires no sooner than the first value would have', 1);
      await b.set(key, 'second', 60);
      await eventually(async () => expect(await a.get(marker)).toBeUndefined());
      expect(await a.get(key)).toBe('second');
    });

    it('forgets a value once its TTL has passed', async () => {
      const [a, b] = await options.create();
      const key = uniqueName('cache');
      await a.set(key, 'short-lived', 1);
      await eventually(async () => expect(await b.get(key)).toBeUndefined());
    });

    it('sets a value only where none is, once among racing nodes, and again after removal or expiry', async () => {
      const [a, b] = await options.create();
      const key = uniqueName('claim');
      const won = await Promise.all([a.setIfAbsent(key, 'a', 60), b.setIfAbsent(key, 'b', 60)]);
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(await a.get(key)).toBe(won[0] ? 'a' : 'b');
      expect(await b.setIfAbsent(key, 'again', 60)).toBe(false);
      await a.del(key);
      expect(await b.setIfAbsent(key, 'after removal', 1)).toBe(true);
      expect(await a.get(key)).toBe('after removal');
      await eventually(async () => expect(await a.setIfAbsent(key, 'after expiry', 60)).toBe(true));
      expect(await b.get(key)).toBe('after expiry');
    });

    it('removes several keys at once from either node, missing ones being no error, and leaves the rest', async () => {
      const [a, b] = await options.create();
      const keys = Array.from({ length: 10 }, () => uniqueName('cache'));
      const kept = uniqueName('kept');
      for (const key of [...keys, kept]) await a.set(key, key, 60);
      await b.del(...keys, uniqueName('missing'));
      expect(await Promise.all(keys.map((key) => a.get(key)))).toEqual(keys.map(() => undefined));
      expect(await a.get(kept)).toBe(kept);
      await b.del();
      await b.del(kept, kept);
      expect(await a.get(kept)).toBeUndefined();
    });
  });
}
