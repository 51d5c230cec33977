import type { AckData } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import type { PayloadOf } from '../../protocol/schemas.js';
import { VoiceHelperError } from './support.js';

/** Options of `VoiceHelperClient.openAudioStream`. */
export interface AudioStreamOptions {
  /** The format of the frames; `audio/l16` (see `l16.ts`) is what live voice is meant to use. */
  mimeType: PayloadOf<'audio:start'>['mimeType'];
  /** Samples per second, for raw PCM (`audio/l16`): listeners need it to play the frames. */
  sampleRate?: number;
  /** Default: a random UUID. Unique among the session's open streams. */
  streamId?: string;
  /**
   * Chunks sent and not yet acknowledged, at most. Default 8: 20 ms frames keep flowing
   * over a round trip of up to 160 ms, well under the server's 32 events in flight per
   * connection (`SOCKET_MAX_IN_FLIGHT`), which the client's other events share.
   */
  window?: number;
  /**
   * Chunks waiting for room in the window, at most; a write beyond is refused (its frame is
   * not sent, the stream goes on). Default 250, five seconds of 20 ms frames: a microphone
   * cannot wait, and audio that late is no longer live.
   */
  maxQueued?: number;
}

/** The events a stream sends, ack'd on the connection it was opened on. */
type StreamEvent = 'audio:start' | 'audio:chunk' | 'audio:end' | 'audio:abort';

/** What a stream needs of its client. */
export interface AudioStreamTransport {
  /**
   * Sends on the stream's own connection (an audio stream lives on one); rejects with
   * VoiceHelperError, at once when that connection is gone.
   */
  call<E extends StreamEvent>(event: E, payload: PayloadOf<E>): Promise<AckData[E]>;
  /** Whether that connection is still up. */
  connected(): boolean;
  /** The stored message, for the session's log. */
  stored(message: Message): void;
}

/** The largest audio chunk the server takes (64 KiB): larger frames go out in pieces. */
export const AUDIO_CHUNK_BYTES = 64 * 1024;

interface Chunk {
  index: number;
  data: Uint8Array;
  /** Settles the write of the frame whose last piece this is. */
  write?: { resolve: () => void; reject: (error: unknown) => void };
}

/**
 * One audio stream, sent as it is produced: each `write` becomes the next `audio:chunk`
 * (listeners with `liveAudio` get it as an `audio:frame` at once), `end()` stores it as a
 * message, `abort()` drops it. At most `window` chunks are in flight; a chunk the server
 * refused for a rate limit, or because an earlier one had not arrived yet, is sent again
 * in index order, so listeners get every frame once, in order. The stream lives on the
 * connection it was opened on: if that drops, the stream fails (the server discards it).
 */
export class AudioStream {
  private readonly window: number;
  private readonly maxQueued: number;
  /** Chunks to send (again), in index order. */
  private readonly waiting: Chunk[] = [];
  /** Indexes of the chunks sent and not acknowledged. */
  private readonly sending = new Set<number>();
  private nextIndex = 0;
  private pausedUntil = 0;
  private resumeTimer: ReturnType<typeof setTimeout> | undefined;
  private idleWaiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private state: 'open' | 'ending' | 'ended' | 'aborted' = 'open';
  private ending: Promise<Message> | undefined;
  /** Why the stream failed, once it has: every later write and `end()` reject with it. */
  error: VoiceHelperError | undefined;

  private constructor(
    private readonly transport: AudioStreamTransport,
    readonly sessionId: string,
    readonly streamId: string,
    options: AudioStreamOptions,
  ) {
    this.window = Math.max(1, options.window ?? 8);
    this.maxQueued = Math.max(1, options.maxQueued ?? 250);
  }

  /** Opens the stream (`audio:start`); rejects with the server's refusal. */
  static async open(
    transport: AudioStreamTransport,
    sessionId: string,
    streamId: string,
    options: AudioStreamOptions,
  ): Promise<AudioStream> {
    await transport.call('audio:start', {
      sessionId,
      streamId,
      mimeType: options.mimeType,
      ...(options.sampleRate === undefined ? {} : { sampleRate: options.sampleRate }),
    });
    return new AudioStream(transport, sessionId, streamId, options);
  }

  /** Chunks sent and not acknowledged yet (at most `window`). */
  get inFlight(): number {
    return this.sending.size;
  }

  /** Chunks waiting for room in the window. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Sends the next frame; resolves once it is on its way (inside the window), so a
   * producer that awaits each write is slowed to what the link carries. A producer that
   * cannot wait (a microphone) need not await: frames queue up to `maxQueued`, beyond
   * which a write is refused (UNAVAILABLE) and its frame skipped. Rejects with `error`
   * once the stream failed.
   */
  write(frame: Uint8Array): Promise<void> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.state !== 'open')
      return Promise.reject(closed(`the stream was ${this.state === 'aborted' ? 'aborted' : 'ended'}`));
    if (frame.byteLength === 0) return Promise.resolve();
    const pieces = Math.ceil(frame.byteLength / AUDIO_CHUNK_BYTES);
    if (this.waiting.length + pieces > this.maxQueued) {
      return Promise.reject(closed(`${this.waiting.length} chunks wait to be sent; this frame was skipped`));
    }
    return new Promise((resolve, reject) => {
      for (let offset = 0; offset < frame.byteLength; offset += AUDIO_CHUNK_BYTES) {
        const last = offset + AUDIO_CHUNK_BYTES >= frame.byteLength;
        this.waiting.push({
          index: this.nextIndex++,
          data: frame.subarray(offset, offset + AUDIO_CHUNK_BYTES),
          ...(last ? { write: { resolve, reject } } : {}),
        });
      }
      this.pump();
    });
  }

  /**
   * Waits for every chunk's ack, then stores the stream (`audio:end`) and returns its
   * message; a second call returns the same.
   */
  end(options: { clientMsgId?: string; transcript?: string } = {}): Promise<Message> {
    if (this.state === 'aborted') return Promise.reject(closed('the stream was aborted'));
    this.ending ??= this.store(options);
    return this.ending;
  }

  private async store(options: { clientMsgId?: string; transcript?: string }): Promise<Message> {
    this.state = 'ending';
    await this.idle();
    const { message } = await this.transport.call('audio:end', {
      streamId: this.streamId,
      clientMsgId: options.clientMsgId ?? globalThis.crypto.randomUUID(),
      ...(options.transcript === undefined ? {} : { transcript: options.transcript }),
    });
    this.state = 'ended';
    this.transport.stored(message);
    return message;
  }

  /** Drops the stream unstored (`audio:abort`): listeners get `audio:ended` with `reason: 'aborted'`. */
  async abort(): Promise<void> {
    if (this.state === 'ended') return;
    this.state = 'aborted';
    this.stop(closed('the stream was aborted'));
    // Without the connection the server has discarded the stream already (socket_gone).
    if (this.transport.connected()) await this.transport.call('audio:abort', { streamId: this.streamId });
  }

  private pump(): void {
    if (this.error !== undefined || this.state === 'aborted') return;
    const wait = this.pausedUntil - Date.now();
    if (wait > 0) {
      this.resumeTimer ??= setTimeout(() => {
        this.resumeTimer = undefined;
        this.pump();
      }, wait);
      return;
    }
    while (this.sending.size < this.window) {
      const chunk = this.waiting.shift();
      if (chunk === undefined) break;
      this.send(chunk);
    }
    if (this.waiting.length === 0 && this.sending.size === 0)
      for (const waiter of this.idleWaiters.splice(0)) waiter.resolve();
  }

  private send(chunk: Chunk): void {
    this.sending.add(chunk.index);
    const write = chunk.write;
    delete chunk.write;
    write?.resolve();
    this.transport.call('audio:chunk', { streamId: this.streamId, index: chunk.index, data: chunk.data }).then(
      () => {
        this.sending.delete(chunk.index);
        this.pump();
      },
      (error: unknown) => {
        this.sending.delete(chunk.index);
        this.refused(chunk, error);
      },
    );
  }

  private refused(chunk: Chunk, error: unknown): void {
    if (this.error !== undefined || this.state === 'aborted') return;
    if (!(error instanceof VoiceHelperError) || !this.retriable(chunk, error)) {
      this.fail(error);
      return;
    }
    if (error.retryAfterMs !== undefined)
      this.pausedUntil = Math.max(this.pausedUntil, Date.now() + error.retryAfterMs);
    const at = this.waiting.findIndex((other) => other.index > chunk.index);
    this.waiting.splice(at === -1 ? this.waiting.length : at, 0, chunk);
    this.pump();
  }

  private retriable(chunk: Chunk, error: VoiceHelperError): boolean {
    // The rate limit (or the connection's events in flight): later, in order.
    if (error.code === 'RATE_LIMITED') return true;
    // This chunk overtook an earlier one that is still on its way, or will be sent again.
    const expected = (error.details as { expectedIndex?: unknown } | undefined)?.expectedIndex;
    return error.code === 'VALIDATION' && typeof expected === 'number' && this.earlierOutstanding(chunk.index);
  }

  private earlierOutstanding(index: number): boolean {
    for (const other of this.sending) if (other < index) return true;
    return this.waiting.some((other) => other.index < index);
  }

  private fail(error: unknown): void {
    this.error =
      error instanceof VoiceHelperError
        ? error
        : new VoiceHelperError({
            code: 'UNAVAILABLE',
            message: error instanceof Error ? error.message : String(error),
          });
    this.stop(this.error);
    // Frees the stream's slot on the server at once rather than after its timeout.
    if (this.transport.connected())
      this.transport.call('audio:abort', { streamId: this.streamId }).catch(() => undefined);
  }

  private stop(error: VoiceHelperError): void {
    clearTimeout(this.resumeTimer);
    for (const chunk of this.waiting.splice(0)) chunk.write?.reject(error);
    for (const waiter of this.idleWaiters.splice(0)) waiter.reject(error);
  }

  private idle(): Promise<void> {
    if (this.error !== undefined) return Promise.reject(this.error);
    if (this.waiting.length === 0 && this.sending.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
  }
}

function closed(message: string): VoiceHelperError {
  return new VoiceHelperError({ code: 'UNAVAILABLE', message });
}
