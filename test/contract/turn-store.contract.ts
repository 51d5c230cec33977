import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TURNS_KEPT, type TurnStore } from '../../src/stores/turns/turn-store.js';

/** The behaviour every turn clock must have (two handles on one clock, as two nodes). */
export function turnStoreContract(options: { name: string; create: () => Promise<[TurnStore, TurnStore]> }): void {
  describe(`TurnStore contract: ${options.name}`, () => {
    it('records each moment of a turn once, from any node', async () => {
      const [a, b] = await options.create();
      const session = randomUUID();
      const turn = { id: randomUUID(), endedAt: 1_000 };
      expect(await b.mark(session, turn, 'firstDelta', 1_200)).toBe(true);
      expect(await a.mark(session, turn, 'firstDelta', 1_300)).toBe(false);
      expect(await a.mark(session, turn, 'final', 1_900)).toBe(true);
      expect(await b.recent(session)).toEqual([{ endedAt: 1_000, firstDeltaAt: 1_200, finalAt: 1_900 }]);
    });

    it('starts the next turn on its first mark, ignores marks of older turns, and keeps the last ones newest first', async () => {
      const [a, b] = await options.create();
      const session = randomUUID();
      const turns = Array.from({ length: TURNS_KEPT + 5 }, (_, i) => ({ id: randomUUID(), endedAt: (i + 1) * 1_000 }));
      for (const [i, turn] of turns.entries()) {
        expect(await (i % 2 === 0 ? a : b).mark(session, turn, 'firstDelta', turn.endedAt + 10)).toBe(true);
        // A late mark of the turn before: already superseded.
        if (i > 0)
          expect(
            await a.mark(session, turns[i - 1] as { id: string; endedAt: number }, 'final', turn.endedAt + 20),
          ).toBe(false);
      }
      const recent = await b.recent(session);
      expect(recent).toHaveLength(TURNS_KEPT + 1);
      expect(recent.map((t) => t.endedAt)).toEqual(
        turns
          .slice(-(TURNS_KEPT + 1))
          .reverse()
          .map((t) => t.endedAt),
      );
      expect(recent[0]).toEqual({ endedAt: (TURNS_KEPT + 5) * 1_000, firstDeltaAt: (TURNS_KEPT + 5) * 1_000 + 10 });
      expect(await a.recent(randomUUID())).toEqual([]);
    });
  });
}
