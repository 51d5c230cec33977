import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { TurnMark, TurnRecord, TurnStore } from '../stores/turns/turn-store.js';

/** One turn as `GET /v1/sessions/:id/turns` shows it. */
export interface TurnFigures {
  endedAt: string;
  firstDeltaMs: number | null;
  firstAudioMs: number | null;
  finalMs: number | null;
  interrupted: boolean;
}

/**
 * How long the assistant takes to answer: the end of each user turn starts the session's
 * clock, and the first assistant delta, first assistant audio chunk and final assistant
 * message each stop one hand of it, once per turn across the cluster (the store decides
 * which node saw it first). That node observes the histogram. Never in the way of the
 * message itself: marks are sent without waiting, and a failure is logged and forgotten.
 */
export class TurnClock {
  constructor(
    private readonly turns: TurnStore,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** The user's turn ended (their `audio:end`, or `message:send` of role `user`). */
  userTurnEnded(sessionId: string): void {
    void this.turns.start(sessionId, Date.now()).catch((error: unknown) => this.failed(error, sessionId));
  }

  /** The assistant reached a moment of its answer. */
  assistant(sessionId: string, mark: TurnMark): void {
    const at = Date.now();
    void this.turns
      .mark(sessionId, mark, at)
      .then((endedAt) => {
        if (endedAt === undefined) return;
        const histogram = { firstDelta: this.metrics.turnFirstDelta, firstAudio: this.metrics.turnFirstAudio, final: this.metrics.turnFinal, interrupted: undefined }[mark];
        histogram?.observe(Math.max(0, at - endedAt) / 1000);
      })
      .catch((error: unknown) => this.failed(error, sessionId));
  }

  /** The session's last turns, newest first. */
  async recent(sessionId: string): Promise<TurnFigures[]> {
    return (await this.turns.recent(sessionId)).map(figures);
  }

  private failed(error: unknown, sessionId: string): void {
    this.logger.debug({ err: error, sessionId }, 'recording a turn time failed');
  }
}

function figures(turn: TurnRecord): TurnFigures {
  const since = (at: number | undefined) => (at === undefined ? null : Math.max(0, at - turn.endedAt));
  return {
    endedAt: new Date(turn.endedAt).toISOString(),
    firstDeltaMs: since(turn.firstDeltaAt),
    firstAudioMs: since(turn.firstAudioAt),
    finalMs: since(turn.finalAt),
    interrupted: turn.interruptedAt !== undefined,
  };
}
