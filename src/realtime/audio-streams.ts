import { createHash, type Hash } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { uuidv7 } from '../util/uuid-v7.js';

/** One voice stream being received on this node. */
export interface AudioStream {
  socketId: string;
  sessionId: string;
  streamId: string;
  /**
   * Made by the server at `audio:start`, it names the stored object: a reused stream id or
   * a resent `audio:end` can never overwrite audio stored before.
   */
  objectId: string;
  mimeType: string;
  sampleRate: number | undefined;
  chunks: Buffer[];
  bytes: number;
  nextIndex: number;
  sha256: Hash;
  lastChunkAt: number;
}

/** Limits of audio streams. */
export interface AudioLimits {
  chunkMaxBytes: number;
  streamMaxBytes: number;
  streamTimeoutMs: number;
}

/**
 * Voice streams in progress on this node. A stream belongs to the socket that started it
 * (its chunks arrive there), is bounded in chunk and total size, and lives in memory until
 * `audio:end` writes it to object storage; one abandoned (no chunk for `streamTimeoutMs`)
 * or whose socket went away is dropped without leaving anything behind.
 */
export class AudioStreams {
  private readonly streams = new Map<string, AudioStream>();
  /** Streams ended recently, so that a resent `audio:end` finds its message. */
  private readonly ended = new Map<string, { sessionId: string; endedAt: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly limits: AudioLimits) {
    this.timer = setInterval(() => this.discardAbandoned(), Math.min(5_000, limits.streamTimeoutMs));
    this.timer.unref();
  }

  start(socketId: string, input: { sessionId: string; streamId: string; mimeType: string; sampleRate?: number }): void {
    const key = `${socketId}:${input.streamId}`;
    const existing = this.streams.get(key);
    if (existing !== undefined) {
      if (existing.sessionId === input.sessionId && existing.mimeType === input.mimeType) return; // a resent start
      throw new AppError('CONFLICT', { message: 'this stream id is already in use' });
    }
    this.streams.set(key, {
      socketId,
      sessionId: input.sessionId,
      streamId: input.streamId,
      objectId: uuidv7(),
      mimeType: input.mimeType,
      sampleRate: input.sampleRate,
      chunks: [],
      bytes: 0,
      nextIndex: 0,
      sha256: createHash('sha256'),
      lastChunkAt: Date.now(),
    });
  }

  /** Appends chunk `index`; a resent earlier index is acknowledged without being added. */
  chunk(socketId: string, streamId: string, index: number, data: Uint8Array): void {
    const stream = this.get(socketId, streamId);
    if (index < stream.nextIndex) return;
    if (index > stream.nextIndex) {
      throw new AppError('VALIDATION', { message: 'chunks must arrive in index order', details: { field: 'index', expectedIndex: stream.nextIndex } });
    }
    if (data.byteLength > this.limits.chunkMaxBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', { message: `a chunk holds at most ${this.limits.chunkMaxBytes} bytes`, details: { limit: this.limits.chunkMaxBytes } });
    }
    if (stream.bytes + data.byteLength > this.limits.streamMaxBytes) {
      this.streams.delete(`${socketId}:${streamId}`);
      throw new AppError('PAYLOAD_TOO_LARGE', {
        message: `a stream holds at most ${this.limits.streamMaxBytes} bytes; it was discarded`,
        details: { limit: this.limits.streamMaxBytes },
      });
    }
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    stream.chunks.push(buffer);
    stream.sha256.update(buffer);
    stream.bytes += buffer.byteLength;
    stream.nextIndex++;
    stream.lastChunkAt = Date.now();
  }

  /** Removes the stream and returns it, for `audio:end`; undefined when unknown. */
  take(socketId: string, streamId: string): AudioStream | undefined {
    const key = `${socketId}:${streamId}`;
    const stream = this.streams.get(key);
    this.streams.delete(key);
    return stream;
  }

  /** Puts a taken stream back (its `audio:end` failed and may be retried). */
  restore(stream: AudioStream): void {
    this.streams.set(`${stream.socketId}:${stream.streamId}`, stream);
  }

  /** Remembers an ended stream for ten minutes. */
  markEnded(socketId: string, streamId: string, sessionId: string): void {
    this.ended.set(`${socketId}:${streamId}`, { sessionId, endedAt: Date.now() });
  }

  /** The session of a stream this socket ended recently. */
  endedSession(socketId: string, streamId: string): string | undefined {
    return this.ended.get(`${socketId}:${streamId}`)?.sessionId;
  }

  /** Drops every stream of a socket that went away. */
  dropSocket(socketId: string): void {
    for (const [key, stream] of this.streams) if (stream.socketId === socketId) this.streams.delete(key);
    for (const key of this.ended.keys()) if (key.startsWith(`${socketId}:`)) this.ended.delete(key);
  }

  close(): void {
    clearInterval(this.timer);
    this.streams.clear();
  }

  private get(socketId: string, streamId: string): AudioStream {
    const stream = this.streams.get(`${socketId}:${streamId}`);
    if (stream === undefined) throw new AppError('NOT_FOUND', { message: 'no such audio stream (not started, ended or discarded)' });
    return stream;
  }

  private discardAbandoned(): void {
    const before = Date.now() - this.limits.streamTimeoutMs;
    for (const [key, stream] of this.streams) if (stream.lastChunkAt <= before) this.streams.delete(key);
    for (const [key, ended] of this.ended) if (ended.endedAt <= Date.now() - 600_000) this.ended.delete(key);
  }
}
