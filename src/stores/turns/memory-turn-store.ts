import { TURNS_KEPT, type TurnMark, type TurnRecord, type TurnStore, type UserTurn } from './turn-store.js';

const SESSIONS_KEPT = 100_000;

/** The turn clocks in process, for the single-node embedded default. */
export class MemoryTurnStore implements TurnStore {
  private readonly sessions = new Map<string, { currentId: string; turns: TurnRecord[] }>();

  async mark(sessionId: string, turn: UserTurn, mark: TurnMark, at: number): Promise<boolean> {
    let clock = this.sessions.get(sessionId);
    if (clock?.currentId !== turn.id) {
      if ((clock?.turns[0]?.endedAt ?? 0) > turn.endedAt) return false;
      clock = {
        currentId: turn.id,
        turns: [{ endedAt: turn.endedAt }, ...(clock?.turns ?? [])].slice(0, TURNS_KEPT + 1),
      };
      this.sessions.delete(sessionId);
      this.sessions.set(sessionId, clock);
      if (this.sessions.size > SESSIONS_KEPT) this.sessions.delete(this.sessions.keys().next().value as string);
    }
    const current = clock.turns[0] as TurnRecord;
    const field = `${mark}At` as const;
    if (current[field] !== undefined) return false;
    current[field] = at;
    return true;
  }

  async recent(sessionId: string): Promise<TurnRecord[]> {
    return (this.sessions.get(sessionId)?.turns ?? []).map((turn) => ({ ...turn }));
  }
}
