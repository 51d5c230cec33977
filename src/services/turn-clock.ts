import type { Message } from '../../protocol/models.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { TurnMark, TurnRecord, TurnStore, UserTurn } from '../stores/turns/turn-store.js';

/** Sessions whose last user turn one node remembers. */
const SESSIONS_KEPT = 100_000;

/** One turn as `GET /v1/sessions/:id/turns` shows it. */
export interface TurnFigures {
  endedAt: string;
  firstDeltaMs: number | null;
  firstAudioMs: number | null;
  finalMs: number | null;
  interrupted: boolean;
}

/**
 * How long the assistant takes to answer. Each node learns when each user turn ended from
 * the messages it relays (the worker answering a session follows it, so its node sees the
 * user's message); the first assistant delta, first assistant audio chunk and final
 * assistant message each stop one hand of that turn's clock, once per turn across the
 * cluster (the store decides), and the node that stopped it observes the histogram. A
 * user's message costs nothing here; an answer costs one store call per mark, sent
 * without waiting, and a failure is logged and forgotten.
 */
export class TurnClock {
  private readonly lastUserTurn = new Map<string, UserTurn>();

  constructor(
    private readonly turns: TurnStore,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** Every message this node relays, in seq order: a user's ends their turn. */
  relayed(message: Message): void {
    if (message.role !== 'user') return;
    this.lastUserTurn.delete(message.sessionId);
    this.lastUserTurn.set(message.sessionId, { id: message.id, endedAt: Date.parse(message.createdAt) });
    if (this.lastUserTurn.size > SESSIONS_KEPT)
      this.lastUserTurn.delete(this.lastUserTurn.keys().next().value as string);
  }

  /** The assistant reached a moment of its answer to the session's last user turn. */
  assistant(sessionId: string, mark: TurnMark): void {
    const turn = this.lastUserTurn.get(sessionId);
    if (turn === undefined) return;
    const at = Date.now();
    void this.turns
      .mark(sessionId, turn, mark, at)
      .then((recorded) => {
        if (!recorded) return;
        const histogram = {
          firstDelta: this.metrics.turnFirstDelta,
          firstAudio: this.metrics.turnFirstAudio,
          final: this.metrics.turnFinal,
          interrupted: undefined,
        }[mark];
        histogram?.observe(Math.max(0, at - turn.endedAt) / 1000);
      })
      .catch((error: unknown) => this.logger.debug({ err: error, sessionId }, 'recording a turn time failed'));
  }

  /** The session's last turns, newest first. */
  async recent(sessionId: string): Promise<TurnFigures[]> {
    return (await this.turns.recent(sessionId)).map(figures);
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
