/** What the clock of one turn records (ms since the epoch). */
export interface TurnRecord {
  /** When the user's turn ended (their `audio:end`, or `message:send` of role `user`, committed). */
  endedAt: number;
  firstDeltaAt?: number;
  firstAudioAt?: number;
  finalAt?: number;
  interruptedAt?: number;
}

/** The moments of an answer, each recorded once per turn. */
export type TurnMark = 'firstDelta' | 'firstAudio' | 'final' | 'interrupted';

/** A user's turn: the id of the message that ended it, and when it was committed. */
export interface UserTurn {
  id: string;
  endedAt: number;
}

/** Turns kept per session before the current one, for `GET /v1/sessions/:id/turns`. */
export const TURNS_KEPT = 20;

/**
 * The turn clocks of sessions, shared by every node (two workers on two nodes answer one
 * turn once): each session's current turn and the ones before it.
 */
export interface TurnStore {
  /**
   * Records `mark` of `turn` once. A newer turn than the session's current one becomes
   * current (the current one goes to the history first); a mark of an older turn is
   * ignored. True when this call recorded it.
   */
  mark(sessionId: string, turn: UserTurn, mark: TurnMark, at: number): Promise<boolean>;
  /** The current turn and the ones before it, newest first. */
  recent(sessionId: string): Promise<TurnRecord[]>;
}
