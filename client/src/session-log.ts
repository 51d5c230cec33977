import type { Message } from '../../protocol/models.js';

/**
 * The messages of one joined session as the app sees them: each seq once, in order.
 * Messages arrive from three places (a join's catch-up, `message:new` pushes, the acks of
 * the client's own sends) and, around a reconnect, in any order and more than once; the
 * log hands on the next seq only, keeps later ones until the gap closes, and drops what
 * it has already handed on.
 */
export class SessionLog {
  /** The highest seq handed to the app (0: none yet). */
  lastSeq: number;
  private readonly waiting = new Map<number, Message>();

  constructor(
    readonly sessionId: string,
    lastSeq: number,
    private readonly deliver: (message: Message) => void,
  ) {
    this.lastSeq = lastSeq;
  }

  /** Takes a message from anywhere; returns true when a gap before it is still open. */
  accept(message: Message): boolean {
    if (message.seq > this.lastSeq && !this.waiting.has(message.seq)) this.waiting.set(message.seq, message);
    for (let next = this.waiting.get(this.lastSeq + 1); next !== undefined; next = this.waiting.get(this.lastSeq + 1)) {
      this.waiting.delete(next.seq);
      this.lastSeq = next.seq;
      this.deliver(next);
    }
    return this.waiting.size > 0;
  }

  /** True while a later message waits for an earlier one. */
  get hasGap(): boolean {
    return this.waiting.size > 0;
  }

  /** Skips to `seq` (the server has nothing before it for this client, e.g. the first join). */
  startAt(seq: number): void {
    if (seq <= this.lastSeq) return;
    this.lastSeq = seq;
    for (const key of this.waiting.keys()) if (key <= seq) this.waiting.delete(key);
  }
}
