import type { Logger } from '../logger.js';
import type { Conversation } from '../services/conversation.js';
import type { LockManager } from '../stores/locks/lock-manager.js';
import { locks as lockNames } from '../stores/names.js';
import type { PresenceStore } from '../stores/presence/presence-store.js';
import type { StreamBuffer } from '../stores/streams/stream-buffer.js';

/** Options of the stream closer. */
export interface StreamCloserOptions {
  /** A stream with no delta for this long is committed as interrupted (`STREAM_IDLE_MS`). */
  idleMs: number;
  /** How often open streams are checked (`STREAM_SWEEP_MS`). */
  sweepMs: number;
  /**
   * A stream whose socket went away (or whose node died) is committed only when its owner
   * has not continued it from another socket within this long (`STREAM_RESUME_GRACE_MS`).
   */
  resumeGraceMs: number;
  nodeId: string;
}

/**
 * Commits interrupted turns: the text gathered so far becomes a message of the stream's
 * role with `metadata: { streamId, interrupted: true }` when the streaming socket
 * disconnects or its node stops heart-beating (another node's sweep notices) and the owner
 * does not continue the stream from another socket within `resumeGraceMs` (a client that
 * moves to another node while a node drains keeps streaming), or when the stream idles
 * `idleMs`. Every path commits through the conversation under the stream's key
 * (`streamMessageKey`), so the message store keeps exactly one row whichever nodes race, and
 * only the node whose append created it broadcasts it.
 */
export class StreamCloser {
  private readonly bySocket = new Map<string, Set<string>>();
  /** Streams whose socket went away, waiting out the grace period. */
  private readonly leaving = new Map<
    string,
    { sessionId: string; streamId: string; socketId: string; since: number }
  >();
  /**
   * When this node's sweep first found each open stream's node gone (stopped heart-beating,
   * or drained): the resume grace of an orphaned stream counts from then, not from its last
   * delta, so that a client moved by a drain gets the whole grace to continue a stream that
   * had been quiet for a while before the drain.
   */
  private orphanedSince = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    private readonly streams: StreamBuffer,
    private readonly conversation: Conversation<unknown>,
    private readonly presence: PresenceStore,
    private readonly locks: LockManager,
    private readonly logger: Logger,
    private readonly options: StreamCloserOptions,
  ) {
    this.timer = setInterval(() => void this.sweep(), options.sweepMs);
    this.timer.unref();
  }

  /** Remembers that a local socket streams into a stream. */
  track(socketId: string, sessionId: string, streamId: string): void {
    let set = this.bySocket.get(socketId);
    if (set === undefined) {
      set = new Set();
      this.bySocket.set(socketId, set);
    }
    set.add(`${sessionId}:${streamId}`);
  }

  /** Forgets a stream closed by its final message. */
  untrack(socketId: string, sessionId: string, streamId: string): void {
    this.bySocket.get(socketId)?.delete(`${sessionId}:${streamId}`);
  }

  /**
   * The socket went away: each stream it left open is committed by a later sweep unless its
   * owner continues it from another socket within the grace period.
   */
  async socketGone(socketId: string): Promise<void> {
    const open = this.bySocket.get(socketId);
    this.bySocket.delete(socketId);
    for (const member of open ?? []) {
      const [sessionId, streamId] = member.split(':') as [string, string];
      this.leaving.set(member, { sessionId, streamId, socketId, since: Date.now() });
    }
  }

  /**
   * Stops sweeping. With `commitLeaving` (a stream buffer that dies with this node) the
   * streams of sockets that went away are committed now; otherwise other nodes commit them
   * once this node is gone and the grace period has passed.
   */
  async close(options: { commitLeaving: boolean } = { commitLeaving: false }): Promise<void> {
    clearInterval(this.timer);
    this.orphanedSince.clear();
    if (options.commitLeaving)
      await Promise.all([...this.leaving.values()].map((s) => this.commit(s.sessionId, s.streamId)));
    this.leaving.clear();
  }

  /** One pass over open streams: idle ones and those of dead nodes are committed. */
  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      await this.commitUnresumed();
      const { idleMs, resumeGraceMs } = this.options;
      const candidates = await this.streams.idle(Math.min(idleMs, resumeGraceMs, 3_000));
      const states = await Promise.all(candidates.map((c) => this.streams.get(c.sessionId, c.streamId)));
      const alive = await this.presence.aliveNodes(states.flatMap((s) => (s === undefined ? [] : [s.nodeId])));
      const now = Date.now();
      const orphans = new Map<string, number>();
      const due = candidates.filter((candidate, i) => {
        const state = states[i];
        const quiet = now - candidate.lastDeltaAt;
        if (state === undefined || quiet >= idleMs) return true;
        if (state.nodeId === this.options.nodeId || alive.has(state.nodeId)) return false;
        const key = `${candidate.sessionId}:${candidate.streamId}`;
        const since = this.orphanedSince.get(key) ?? now;
        orphans.set(key, since);
        return now - since >= resumeGraceMs;
      });
      // Streams no longer orphaned (continued on a live node, committed, closed) are forgotten.
      this.orphanedSince = orphans;
      if (due.length > 0)
        this.logger.debug(
          { streams: due.length, candidates: candidates.length },
          'committing idle or orphaned streams',
        );
      // Committed together, so they share group-commit batches.
      await Promise.all(due.map((c) => this.commit(c.sessionId, c.streamId)));
    } catch (error) {
      this.logger.warn({ err: error }, 'sweeping open streams failed; retrying');
    } finally {
      this.sweeping = false;
    }
  }

  /** Commits the streams of gone sockets whose grace passed and that no other socket continued. */
  private async commitUnresumed(): Promise<void> {
    const before = Date.now() - this.options.resumeGraceMs;
    const due = [...this.leaving.entries()].filter(([, s]) => s.since <= before);
    await Promise.all(
      due.map(async ([key, s]) => {
        const state = await this.streams.get(s.sessionId, s.streamId);
        // Continued from another socket (any node): that socket owns it now.
        if (state !== undefined && state.socketId === s.socketId) await this.commit(s.sessionId, s.streamId);
        this.leaving.delete(key);
      }),
    );
  }

  /**
   * Commits one stream's text as an interrupted turn and drops the buffer. A cluster lock
   * keeps two nodes from doing the same work (the idempotency key already keeps the result
   * to one message); when another node holds it, this one leaves the stream to it.
   */
  async commit(sessionId: string, streamId: string): Promise<void> {
    await this.locks
      // Not fenced: the idempotency key already keeps the result to one message, and no
      // counter is left behind per stream.
      .using(lockNames.stream(sessionId, streamId), 10_000, () => this.commitNow(sessionId, streamId), {
        fenced: false,
      })
      .catch((error: unknown) =>
        this.logger.warn({ err: error, sessionId, streamId }, 'locking a stream failed; the sweep retries'),
      );
  }

  private async commitNow(sessionId: string, streamId: string): Promise<void> {
    await this.conversation
      .abandonStream(sessionId, streamId)
      .catch((error: unknown) =>
        this.logger.warn(
          { err: error, sessionId, streamId },
          'committing an interrupted stream failed; the sweep retries',
        ),
      );
  }
}
