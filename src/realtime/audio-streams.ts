import { createHash, type Hash } from 'node:crypto';
import type { AudioDiscardReason } from '../../protocol/events.js';
import { AppError } from '../errors/app-error.js';
import type { Cache } from '../stores/cache/cache.js';
import { keys } from '../stores/names.js';
import { uuidv7 } from '../util/uuid-v7.js';

/**
 * How long a stream id stays claimed in its session without an end (a node that dies takes
 * its streams' ends with it); a stream silent for AUDIO_STREAM_TIMEOUT_MS ends sooner, and a
 * longer one renews its claim with its chunks, every half of this.
 */
const CLAIM_TTL_SECONDS = 3_600;

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
  /** When its id was last claimed in the session (renewed by chunks before the claim expires). */
  claimedAt: number;
}

/** How a stream ended: stored as a message, or discarded (a barge-in's cut names the turn it stored). */
export type AudioStreamEnd =
  | { messageId: string }
  | { discarded: true; reason: AudioDiscardReason; messageId?: string };

/** Told of every stream's life on this node, as it happens (the live relay). Must not throw. */
export interface AudioStreamObserver {
  /** A stream opened (not a resent start). */
  started(stream: AudioStream): void;
  /** Chunk `index` was accepted (not a resent one), with its bytes. */
  frame(stream: AudioStream, index: number, data: Buffer): void;
  /** The stream is over; nothing more of it follows. */
  ended(stream: AudioStream, end: AudioStreamEnd): void;
}

/** What AudioStreams needs besides its limits. */
export interface AudioStreamsDeps {
  /** Where stream ids are claimed per session for every node (the shared cache). */
  claims: Cache;
  /** This node's id: a claim names the node and the socket that holds it. */
  nodeId: string;
  observer: AudioStreamObserver;
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
 * the whole node (PAYLOAD_TOO_LARGE beyond). A stream id is open at most once per session
 * across the cluster (claimed in the shared cache until the stream ends), so that listeners
 * can key live frames by it; every start, accepted chunk and end is told to the observer.
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

  private readonly claims: Cache;
  private readonly nodeId: string;
  private readonly observer: AudioStreamObserver;

  constructor(
    private readonly limits: AudioLimits,
    deps: AudioStreamsDeps,
  ) {
    this.claims = deps.claims;
    this.nodeId = deps.nodeId;
    this.observer = deps.observer;
    this.timer = setInterval(() => this.discardAbandoned(), Math.min(5_000, limits.streamTimeoutMs));
    this.timer.unref();
  }

  /** Audio bytes buffered on this node (a gauge in /metrics). */
  get bufferedBytes(): number {
    return this.held;
  }

  /**
   * Opens a stream of this socket: CONFLICT (`audio_stream_in_use`) when the session has an
   * open stream of this id on any node, or this socket uses the id in another session; a
   * resent start of the same stream is accepted. While the shared cache does not answer, a
   * start is not refused for want of it: ids are then checked per socket only.
   */
  async open(
    socketId: string,
    userId: string,
    speaker: 'user' | 'assistant',
    input: { sessionId: string; streamId: string; mimeType: string; sampleRate?: number },
  ): Promise<void> {
    const claim = keys.audioStream(input.sessionId, input.streamId);
    const owner = this.claimant(socketId);
    const claimed = await this.claims.setIfAbsent(claim, owner, CLAIM_TTL_SECONDS).catch(() => false);
    if (!claimed) {
      const holder = await this.claims.get(claim).catch(() => undefined);
      if (holder !== undefined && holder !== owner)
        throw inUse('this stream id is open in the session; choose another');
    }
    try {
      this.start(socketId, userId, speaker, input);
    } catch (error) {
      if (claimed) this.release(input.sessionId, input.streamId);
      throw error;
    }
  }

  private start(
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
      throw inUse('this stream id is already in use');
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
    const stream: AudioStream = {
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
      claimedAt: Date.now(),
    };
    this.streams.set(key, stream);
    this.observer.started(stream);
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
      this.discard(`${socketId}:${streamId}`, 'too_large');
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
    if (stream.lastChunkAt - stream.claimedAt >= CLAIM_TTL_SECONDS * 500) this.renewClaim(stream);
    this.observer.frame(stream, index, buffer);
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
    this.finish(stream, { discarded: true, reason: 'interrupted', messageId });
  }

  /**
   * Ends a stream of this socket without storing it (`audio:abort`); false when it was not
   * open (ended, discarded, or never started).
   */
  abort(socketId: string, streamId: string): boolean {
    return this.discard(`${socketId}:${streamId}`, 'aborted');
  }

  /** The message a barge-in stored for a stream of this socket. */
  interruptedMessage(socketId: string, streamId: string): string | undefined {
    return this.interrupted.get(`${socketId}:${streamId}`)?.messageId;
  }

  /** The stream (taken before) is stored as this message; remembered for ten minutes. */
  markEnded(stream: AudioStream, messageId: string): void {
    this.ended.set(`${stream.socketId}:${stream.streamId}`, { sessionId: stream.sessionId, endedAt: Date.now() });
    this.finish(stream, { messageId });
  }

  /** The session of a stream this socket ended recently. */
  endedSession(socketId: string, streamId: string): string | undefined {
    return this.ended.get(`${socketId}:${streamId}`)?.sessionId;
  }

  /** Drops every stream of a socket that went away. */
  dropSocket(socketId: string): void {
    for (const [key, stream] of this.streams) if (stream.socketId === socketId) this.discard(key, 'socket_gone');
    for (const key of this.ended.keys()) if (key.startsWith(`${socketId}:`)) this.ended.delete(key);
    for (const key of this.interrupted.keys()) if (key.startsWith(`${socketId}:`)) this.interrupted.delete(key);
  }

  close(): void {
    clearInterval(this.timer);
    this.streams.clear();
    this.held = 0;
  }

  /** Removes an open stream that will not be stored; false when there is none. */
  private discard(key: string, reason: AudioDiscardReason): boolean {
    const stream = this.remove(key);
    if (stream === undefined) return false;
    this.finish(stream, { discarded: true, reason });
    return true;
  }

  /** The stream is over: its id is free again in its session, and the observer is told. */
  private finish(stream: AudioStream, end: AudioStreamEnd): void {
    this.release(stream.sessionId, stream.streamId);
    this.observer.ended(stream, end);
  }

  private renewClaim(stream: AudioStream): void {
    stream.claimedAt = stream.lastChunkAt;
    const claim = keys.audioStream(stream.sessionId, stream.streamId);
    void this.claims.set(claim, this.claimant(stream.socketId), CLAIM_TTL_SECONDS).catch(() => undefined);
  }

  /** What a claim holds: the node and the socket streaming. */
  private claimant(socketId: string): string {
    return `${this.nodeId}/${socketId}`;
  }

  private release(sessionId: string, streamId: string): void {
    void this.claims.del(keys.audioStream(sessionId, streamId)).catch(() => undefined);
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
    for (const [key, stream] of this.streams) if (stream.lastChunkAt <= before) this.discard(key, 'timeout');
    for (const [key, ended] of this.ended) if (ended.endedAt <= Date.now() - 600_000) this.ended.delete(key);
    for (const [key, cut] of this.interrupted) if (cut.at <= Date.now() - 600_000) this.interrupted.delete(key);
  }
}

function inUse(message: string): AppError {
  return AppError.because('audio_stream_in_use', { message });
}
