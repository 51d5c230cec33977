import { TURNS_KEPT, type TurnMark, type TurnRecord, type TurnStore } from './turn-store.js';

const SESSIONS_KEPT = 100_000;

/** The turn clock in process, for the single-node embedded default. */
export class MemoryTurnStore implements TurnStore {
  private readonly sessions = new Map<string, TurnRecord[]>();

  async start(sessionId: string, at: number): Promise<void> {
    const turns = this.sessions.get(sessionId) ?? [];
    this.sessions.delete(sessionId);
    this.sessions.set(sessionId, [{ endedAt: at }, ...turns].slice(0, TURNS_KEPT + 1));
    if (this.sessions.size > SESSIONS_KEPT) this.sessions.delete(this.sessions.keys().next().value as string);
  }

  async mark(sessionId: string, mark: TurnMark, at: number): Promise<number | undefined> {
    const current = this.sessions.get(sessionId)?.[0];
    const field = `${mark}At` as const;
    if (current === undefined || current[field] !== undefined) return undefined;
    current[field] = at;
    return current.endedAt;
  }

  async recent(sessionId: string): Promise<TurnRecord[]> {
    return (this.sessions.get(sessionId) ?? []).map((turn) => ({ ...turn }));
  }
}
