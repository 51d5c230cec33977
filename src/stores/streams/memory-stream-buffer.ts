import type { DeltaInput, InterruptedStream, OpenStream, StreamBuffer, StreamState } from './stream-buffer.js';
import { streamErrors } from './stream-errors.js';

interface Entry extends StreamState {
  lastIndex: number;
  lastDeltaAt: number;
  bytes: number;
  deltaEnds: number[];
  closing: boolean;
}

const CLOSED_TTL_MS = 3_600_000;

/** Open streams in process, for the single-node embedded default. */
export class MemoryStreamBuffer implements StreamBuffer {
  private readonly streams = new Map<string, Entry>();
  /** Messages stored by barge-ins, with when they expire. */
  private readonly closed = new Map<string, { messageId: string; until: number }>();

  constructor(
    private readonly maxBytes: number,
    /** A stream is forgotten this long after its last delta even if nobody commits it. */
    private readonly ttlSeconds = 3_600,
  ) {}

  /** The stream under `key`, unless it expired (then it is dropped). */
  private live(key: string): Entry | undefined {
    const entry = this.streams.get(key);
    if (entry === undefined || entry.lastDeltaAt + this.ttlSeconds * 1_000 > Date.now()) return entry;
    this.streams.delete(key);
    return undefined;
  }

  async append(input: DeltaInput): Promise<'appended' | 'duplicate'> {
    const key = `${input.sessionId}:${input.streamId}`;
    const entry = this.live(key);
    const closedBy = await this.interruptedBy(input.sessionId, input.streamId);
    if (closedBy !== undefined || entry?.closing === true) throw streamErrors.interrupted(closedBy);
    if (entry !== undefined && entry.userId !== input.userId) throw streamErrors.notOwner();
    const last = entry?.lastIndex ?? -1;
    if (input.index <= last) return 'duplicate';
    if (input.index !== last + 1) throw streamErrors.gap(last + 1);
    const bytes = (entry?.bytes ?? 0) + Buffer.byteLength(input.delta);
    if (bytes > this.maxBytes) throw streamErrors.tooLarge(this.maxBytes);
    this.streams.set(key, {
      sessionId: input.sessionId,
      streamId: input.streamId,
      userId: input.userId,
      role: input.role,
      nodeId: input.nodeId,
      socketId: input.socketId,
      text: (entry?.text ?? '') + input.delta,
      lastIndex: input.index,
      lastDeltaAt: Date.now(),
      bytes,
      deltaEnds: [...(entry?.deltaEnds ?? []), bytes],
      closing: false,
    });
    return 'appended';
  }

  async interrupt(sessionId: string, streamId: string): Promise<InterruptedStream | undefined> {
    const entry = this.live(`${sessionId}:${streamId}`);
    if (entry === undefined) return undefined;
    entry.closing = true;
    const { lastIndex: _l, lastDeltaAt: _t, bytes: _b, closing: _c, ...taken } = entry;
    return { ...taken, deltaEnds: [...taken.deltaEnds] };
  }

  async interrupted(sessionId: string, streamId: string, messageId: string): Promise<void> {
    const key = `${sessionId}:${streamId}`;
    this.streams.delete(key);
    this.closed.set(key, { messageId, until: Date.now() + CLOSED_TTL_MS });
    if (this.closed.size > 10_000) for (const [k, v] of this.closed) if (v.until < Date.now()) this.closed.delete(k);
  }

  async interruptedBy(sessionId: string, streamId: string): Promise<string | undefined> {
    const mark = this.closed.get(`${sessionId}:${streamId}`);
    return mark !== undefined && mark.until > Date.now() ? mark.messageId : undefined;
  }

  async get(sessionId: string, streamId: string): Promise<StreamState | undefined> {
    const entry = this.live(`${sessionId}:${streamId}`);
    if (entry === undefined) return undefined;
    const { lastIndex: _l, lastDeltaAt: _t, bytes: _b, deltaEnds: _e, closing: _c, ...state } = entry;
    return state;
  }

  async remove(sessionId: string, streamId: string): Promise<void> {
    this.streams.delete(`${sessionId}:${streamId}`);
  }

  async idle(idleMs: number): Promise<OpenStream[]> {
    const before = Date.now() - idleMs;
    return [...this.streams.keys()]
      .flatMap((key) => this.live(key) ?? [])
      .filter((e) => e.lastDeltaAt <= before)
      .map((e) => ({ sessionId: e.sessionId, streamId: e.streamId, lastDeltaAt: e.lastDeltaAt }));
  }
}
