import { createHash, type Hash } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { uuidv7 } from '../util/uuid-v7.js';

/** One voice stream being received on this node. */
export interface AudioStream {
  socketId: string;
  userId: string;
  /** A user's voice, or an assistant's (a service's speech, which a barge-in may cut). */
  speaker: 'user' | 'assistant';
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
  /** Streams open at once on one socket. */
  streamsPerSocket: number;
  /** Streams open at once for one user on this node. */
  streamsPerUser: number;
  /** Audio bytes buffered on this node over all streams. */
  nodeMaxBytes: number;
}

/**
 * Voice streams in progress on this node. A stream belongs to the socket that started it
 * (its chunks arrive there), is bounded in chunk and total size, and lives in memory until
 * `audio:end` writes it to object storage; one abandoned (no chunk for `streamTimeoutMs`)
 * or whose socket went away is dropped without leaving anything behind. Memory is bounded
 * three ways: streams per socket and per user (RATE_LIMITED beyond), and bytes buffered by
 * the whole node (PAYLOAD_TOO_LARGE beyond).
 */
export class AudioStreams {
  private readonly streams = new Map<string, AudioStream>();
  /** Bytes held by every open stream of this node. */
  private held = 0;
  /** Streams ended recently, so that a resent `audio:end` finds its message. */
  private readonly ended = new Map<string, { sessionId: string; endedAt: number }>();
  /** Streams cut by a barge-in, with the message that stored them: later chunks are refused, `audio:end` answers it. */
  private readonly interrupted = new Map<string, { messageId: string; at: number }>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly limits: AudioLimits) {
    this.timer = setInterval(() => this.discardAbandoned(), Math.min(5_000, limits.streamTimeoutMs));
    this.timer.unref();
  }

  /** Audio bytes buffered on this node (a gauge in /metrics). */
  get bufferedBytes(): number {
    return this.held;
  }

  start(
    socketId: string,
    userId: string,
    speaker: 'user' | 'assistant',
    input: { sessionId: string; streamId: string; mimeType: string; sampleRate?: number },
  ): void {
    const key = `${socketId}:${input.streamId}`;
    this.interrupted.delete(key);
    const existing = this.streams.get(key);
    if (existing !== undefined) {
      if (existing.sessionId === input.sessionId && existing.mimeType === input.mimeType) return; // a resent start
      throw AppError.because('audio_stream_in_use', { message: 'this stream id is already in use' });
    }
    let ofSocket = 0;
    let ofUser = 0;
    for (const stream of this.streams.values()) {
      if (stream.socketId === socketId) ofSocket++;
      if (stream.userId === userId) ofUser++;
    }
    const tooMany = (scope: 'socket' | 'user', limit: number) =>
      new AppError('RATE_LIMITED', {
        message: `at most ${limit} audio streams may be open at once per ${scope}; end one first`,
        retryAfterMs: 1_000,
        details: { reason: 'audio_streams', scope, limit },
      });
    if (ofSocket >= this.limits.streamsPerSocket) throw tooMany('socket', this.limits.streamsPerSocket);
    if (ofUser >= this.limits.streamsPerUser) throw tooMany('user', this.limits.streamsPerUser);
    this.streams.set(key, {
      socketId,
      userId,
      speaker,
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

  /**
   * Adds chunk `index` in index order; a resent earlier index is acknowledged without being
   * added. Returns the stream's session when this was its first chunk (a resend returns undefined).
   */
  chunk(socketId: string, streamId: string, index: number, data: Uint8Array): string | undefined {
    const cut = this.interrupted.get(`${socketId}:${streamId}`);
    if (cut !== undefined) {
      throw AppError.because('stream_interrupted', {
        message: 'the stream was interrupted: its turn is stored',
        details: { messageId: cut.messageId },
      });
    }
    const stream = this.get(socketId, streamId);
    if (index < stream.nextIndex) return undefined;
    if (index > stream.nextIndex) {
      throw new AppError('VALIDATION', {
        message: 'chunks must arrive in index order',
        details: { field: 'index', expectedIndex: stream.nextIndex },
      });
    }
    if (data.byteLength > this.limits.chunkMaxBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', {
        message: `a chunk holds at most ${this.limits.chunkMaxBytes} bytes`,
        details: { limit: this.limits.chunkMaxBytes },
      });
    }
    if (this.held + data.byteLength > this.limits.nodeMaxBytes) {
      throw new AppError('PAYLOAD_TOO_LARGE', {
        message: 'this node holds as much audio as it may; end a stream, or retry',
        details: { reason: 'node_audio_budget', limit: this.limits.nodeMaxBytes },
      });
    }
    if (stream.bytes + data.byteLength > this.limits.streamMaxBytes) {
      this.remove(`${socketId}:${streamId}`);
      throw new AppError('PAYLOAD_TOO_LARGE', {
        message: `a stream holds at most ${this.limits.streamMaxBytes} bytes; it was discarded`,
        details: { limit: this.limits.streamMaxBytes },
      });
    }
    const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    stream.chunks.push(buffer);
    stream.sha256.update(buffer);
    stream.bytes += buffer.byteLength;
    this.held += buffer.byteLength;
    stream.nextIndex++;
    stream.lastChunkAt = Date.now();
    return index === 0 ? stream.sessionId : undefined;
  }

  /** Removes the stream and returns it, for `audio:end`; undefined when unknown. */
  take(socketId: string, streamId: string): AudioStream | undefined {
    return this.remove(`${socketId}:${streamId}`);
  }

  /** Puts a taken stream back (its `audio:end` failed and may be retried). */
  restore(stream: AudioStream): void {
    this.streams.set(`${stream.socketId}:${stream.streamId}`, stream);
    this.held += stream.bytes;
  }

  /** The open stream of a session with this stream id, whichever socket of this node streams it. */
  find(sessionId: string, streamId: string): AudioStream | undefined {
    for (const stream of this.streams.values())
      if (stream.sessionId === sessionId && stream.streamId === streamId && stream.speaker === 'assistant')
        return stream;
    return undefined;
  }

  /** A barge-in stored the stream (taken before) as this message. */
  markInterrupted(stream: AudioStream, messageId: string): void {
    this.interrupted.set(`${stream.socketId}:${stream.streamId}`, { messageId, at: Date.now() });
  }

  /** The message a barge-in stored for a stream of this socket. */
  interruptedMessage(socketId: string, streamId: string): string | undefined {
    return this.interrupted.get(`${socketId}:${streamId}`)?.messageId;
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
    for (const [key, stream] of this.streams) if (stream.socketId === socketId) this.remove(key);
    for (const key of this.ended.keys()) if (key.startsWith(`${socketId}:`)) this.ended.delete(key);
    for (const key of this.interrupted.keys()) if (key.startsWith(`${socketId}:`)) this.interrupted.delete(key);
  }

  close(): void {
    clearInterval(this.timer);
    this.streams.clear();
    this.held = 0;
  }

  private remove(key: string): AudioStream | undefined {
    const stream = this.streams.get(key);
    if (stream !== undefined) {
      this.streams.delete(key);
      this.held -= stream.bytes;
    }
    return stream;
  }

  private get(socketId: string, streamId: string): AudioStream {
    const stream = this.streams.get(`${socketId}:${streamId}`);
    if (stream === undefined)
      throw new AppError('NOT_FOUND', { message: 'no such audio stream (not started, ended or discarded)' });
    return stream;
  }

  private discardAbandoned(): void {
    const before = Date.now() - this.limits.streamTimeoutMs;
    for (const [key, stream] of this.streams) if (stream.lastChunkAt <= before) this.remove(key);
    for (const [key, ended] of this.ended) if (ended.endedAt <= Date.now() - 600_000) this.ended.delete(key);
    for (const [key, cut] of this.interrupted) if (cut.at <= Date.now() - 600_000) this.interrupted.delete(key);
  }
}
