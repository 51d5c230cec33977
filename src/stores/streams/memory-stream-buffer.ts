import type { DeltaInput, OpenStream, StreamBuffer, StreamState } from './stream-buffer.js';
import { streamErrors } from './stream-errors.js';

interface Entry extends StreamState {
  lastIndex: number;
  lastDeltaAt: number;
  bytes: number;
}

/** Open streams in process, for the single-node embedded default. */
export class MemoryStreamBuffer implements StreamBuffer {
  private readonly streams = new Map<string, Entry>();

  constructor(private readonly maxBytes: number) {}

  async append(input: DeltaInput): Promise<'appended' | 'duplicate'> {
    const key = `${input.sessionId}:${input.streamId}`;
    const entry = this.streams.get(key);
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
    });
    return 'appended';
  }

  async get(sessionId: string, streamId: string): Promise<StreamState | undefined> {
    const entry = this.streams.get(`${sessionId}:${streamId}`);
    if (entry === undefined) return undefined;
    const { lastIndex: _l, lastDeltaAt: _t, bytes: _b, ...state } = entry;
    return state;
  }

  async remove(sessionId: string, streamId: string): Promise<void> {
    this.streams.delete(`${sessionId}:${streamId}`);
  }

  async idle(idleMs: number): Promise<OpenStream[]> {
    const before = Date.now() - idleMs;
    return [...this.streams.values()]
      .filter((e) => e.lastDeltaAt <= before)
      .map((e) => ({ sessionId: e.sessionId, streamId: e.streamId, lastDeltaAt: e.lastDeltaAt }));
  }
}
