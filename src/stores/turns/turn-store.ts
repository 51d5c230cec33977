/** What the clock of one turn records (ms since the epoch). */
export interface TurnRecord {
  /** When the user's turn ended (their `audio:end`, or `message:send` of role `user`). */
  endedAt: number;
  firstDeltaAt?: number;
  firstAudioAt?: number;
  finalAt?: number;
  interruptedAt?: number;
}

/** The moments of a turn after its start, each recorded once. */
export type TurnMark = 'firstDelta' | 'firstAudio' | 'final' | 'interrupted';

/** Turns kept per session for `GET /v1/sessions/:id/turns`. */
export const TURNS_KEPT = 20;

/**
 * The turn clock of each session, shared by every node (a worker's first delta often
 * reaches another node than the user's turn): the current turn and the last ones before it.
 */
export interface TurnStore {
  /** A user turn ended at `at`: the current turn is kept in the history and a new one starts. */
  start(sessionId: string, at: number): Promise<void>;
  /**
   * Records `mark` on the current turn if it is not recorded yet; returns when that turn
   * started (to measure), or undefined when it was recorded before or no turn runs.
   */
  mark(sessionId: string, mark: TurnMark, at: number): Promise<number | undefined>;
  /** The current turn and the ones before it, newest first. */
  recent(sessionId: string): Promise<TurnRecord[]>;
}
