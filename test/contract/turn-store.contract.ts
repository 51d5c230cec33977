import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TURNS_KEPT, type TurnStore } from '../../src/stores/turns/turn-store.js';

/** The behaviour every turn clock must have (two handles on one clock, as two nodes). */
export function turnStoreContract(options: { name: string; create: () => Promise<[TurnStore, TurnStore]> }): void {
  describe(`TurnStore contract: ${options.name}`, () => {
    it('records each moment of the current turn once, from any node, and answers when the turn ended', async () => {
      const [a, b] = await options.create();
      const session = randomUUID();
      expect(await a.mark(session, 'firstDelta', 5)).toBeUndefined();
      await a.start(session, 1_000);
      expect(await b.mark(session, 'firstDelta', 1_200)).toBe(1_000);
      expect(await a.mark(session, 'firstDelta', 1_300)).toBeUndefined();
      expect(await a.mark(session, 'final', 1_900)).toBe(1_000);
      expect(await b.recent(session)).toEqual([{ endedAt: 1_000, firstDeltaAt: 1_200, finalAt: 1_900 }]);
    });

    it('keeps the last turns, newest first, after the current one', async () => {
      const [a, b] = await options.create();
      const session = randomUUID();
      for (let i = 0; i < TURNS_KEPT + 5; i++) {
        await a.start(session, i * 1_000);
        if (i % 2 === 0) await b.mark(session, 'interrupted', i * 1_000 + 10);
      }
      const turns = await b.recent(session);
      expect(turns).toHaveLength(TURNS_KEPT + 1);
      expect(turns.map((t) => t.endedAt)).toEqual(Array.from({ length: TURNS_KEPT + 1 }, (_, i) => (TURNS_KEPT + 4 - i) * 1_000));
      expect(turns[0]).toEqual({ endedAt: (TURNS_KEPT + 4) * 1_000, interruptedAt: (TURNS_KEPT + 4) * 1_000 + 10 });
      expect(turns[1]).toEqual({ endedAt: (TURNS_KEPT + 3) * 1_000 });
      expect(await a.recent(randomUUID())).toEqual([]);
    });
  });
}
