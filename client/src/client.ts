import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../../protocol/errors.js';
import type {
  AckData,
  ClientToServerEvents,
  PresenceEntry,
  PushOf,
  RetrieveResult,
  ServerToClientEvents,
} from '../../protocol/events.js';
import type { Message, MessageRole, Session } from '../../protocol/models.js';
import type { ClientEventName, PayloadOf } from '../../protocol/schemas.js';
import { AudioStream, type AudioStreamOptions, type AudioStreamTransport } from './audio-stream.js';
import { SessionLog } from './session-log.js';
import {
  type BackoffOptions,
  backoffDelay,
  DEFAULT_BACKOFF,
  Emitter,
  sleep,
  TokenKeeper,
  type TokenRefreshReason,
  VoiceHelperError,
} from './support.js';

type AppSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

export interface VoiceHelperClientOptions {
  /** The server, or several nodes to try in turn (a load balancer's one URL is the usual case). */
  url: string | readonly string[];
  /** Gives an access token; called at start, before the token expires, and after the server refused one. */
  token: (reason: TokenRefreshReason) => string | Promise<string>;
  /** Ask for a new token this long before the current one expires. Default 60 000. */
  tokenRefreshMarginMs?: number;
  /** Reconnect delays. Default 250 ms doubling to 10 s, with up to 50 % jitter. */
  backoff?: Partial<BackoffOptions>;
  /** How long an event waits for its ack before the client treats the connection as lost for it. Default 10 000. */
  ackTimeoutMs?: number;
  /** Socket.IO transports. Default `['websocket']`. */
  transports?: ('websocket' | 'polling')[];
}

/** What the client tells the app. */
export interface ClientEvents {
  /** A message of a joined session: each seq once, in order, whichever node or socket it came through. */
  message: (message: Message) => void;
  delta: (delta: PushOf<'message:delta'>) => void;
  presence: (presence: PushOf<'presence'>) => void;
  'session:updated': (session: Session) => void;
  'session:deleted': (sessionId: string) => void;
  'turn:interrupted': (event: PushOf<'turn:interrupted'>) => void;
  'document:status': (event: PushOf<'document:status'>) => void;
  /** Another socket opened an audio stream in a session joined with `liveAudio` (never this client's own). */
  'audio:started': (event: PushOf<'audio:started'>) => void;
  /**
   * One frame of such a stream, in index order, as it is spoken; key it by `streamId`. A
   * client that joins (or rejoins after a reconnect) while a stream is open gets its
   * frames without its `audio:started`.
   */
  'audio:frame': (frame: AudioFrame) => void;
  /**
   * The stream was stored (`messageId`) or discarded (`discarded`, `reason`). A stream that
   * ended while the client was reconnecting never says so: stop waiting for its frames.
   */
  'audio:ended': (event: PushOf<'audio:ended'>) => void;
  /** `connected` after each (re)connection and resume; `ended` when the server said not to reconnect, or after close(). */
  state: (state: ConnectionState, detail?: { reason?: string; nodeId?: string }) => void;
  /** Something the client could not do by itself (a failed token refresh, a join that failed on resume). */
  error: (error: unknown) => void;
}

export type ConnectionState = 'connecting' | 'connected' | 'disconnected' | 'ended';

/** `audio:frame` with its bytes as a Uint8Array in browsers and Node alike. */
export type AudioFrame = Omit<PushOf<'audio:frame'>, 'data'> & { data: Uint8Array };

/** Options of `join`. */
export interface JoinOptions {
  /** Hand on messages after this seq. Default: the newest page the server gives. */
  sinceSeq?: number;
  /**
   * Also receive the session's audio streams live (`audio:started`, `audio:frame`,
   * `audio:ended`). Default false. Each join sets it anew, and the rejoins after a
   * reconnect keep what the last join chose.
   */
  liveAudio?: boolean;
}

/** One message waiting in the outbox. */
interface Outgoing {
  payload: PayloadOf<'message:send'>;
  resolve: (message: Message) => void;
  reject: (error: unknown) => void;
}

/** Errors worth retrying with the same clientMsgId: the server did not take the message. */
const RETRIABLE = new Set(['UNAVAILABLE', 'RATE_LIMITED']);

/**
 * A VoiceHelper client that keeps a conversation whole across reconnects: it reconnects
 * with backoff and jitter (to the next URL when there are several), refreshes its token,
 * rejoins every joined session from the last seq it handed on, and resends unacked
 * messages with their clientMsgId, so the app sees each message once, in order.
 */
export class VoiceHelperClient extends Emitter<ClientEvents> {
  private readonly urls: readonly string[];
  private readonly tokens: TokenKeeper;
  private readonly backoff: BackoffOptions;
  private readonly ackTimeoutMs: number;
  private readonly logs = new Map<string, SessionLog>();
  /** Joined sessions whose audio the app hears live: every join of them (rejoins too) asks for it. */
  private readonly liveAudio = new Set<string>();
  private readonly outboxes = new Map<string, Outgoing[]>();
  private readonly pumping = new Set<string>();
  private readonly catchingUp = new Set<string>();
  private socket: AppSocket | undefined;
  private urlIndex = 0;
  private closed = false;
  private connectedWaiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  /** The node of the current connection (from `sys:hello`). */
  nodeId: string | undefined;
  state: ConnectionState = 'disconnected';

  constructor(private readonly options: VoiceHelperClientOptions) {
    super();
    this.urls = typeof options.url === 'string' ? [options.url] : [...options.url];
    if (this.urls.length === 0) throw new Error('VoiceHelperClient needs at least one url');
    this.tokens = new TokenKeeper(options.token, options.tokenRefreshMarginMs ?? 60_000, (error) =>
      this.emit('error', error),
    );
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  }

  /** Connects (and keeps reconnecting until close()); resolves once connected the first time. */
  async connect(): Promise<void> {
    this.running ??= this.run();
    await this.connected();
  }

  /** Leaves for good: no reconnect; unsent messages are rejected. */
  close(): void {
    this.closed = true;
    this.tokens.stop();
    this.socket?.disconnect();
    for (const queue of this.outboxes.values()) for (const item of queue.splice(0)) item.reject(ended());
    this.setState('ended');
    for (const wake of this.connectedWaiters.splice(0)) wake();
  }

  /**
   * Joins a session and hands its messages to `message` listeners from `sinceSeq` on
   * (without it: the newest page the server gives); with `liveAudio`, its audio streams too.
   * After any reconnect the client rejoins by itself from the last seq it handed on.
   */
  async join(sessionId: string, options: JoinOptions = {}): Promise<{ session: Session; presence: PresenceEntry[] }> {
    let log = this.logs.get(sessionId);
    if (log === undefined) {
      log = new SessionLog(sessionId, options.sinceSeq ?? 0, (message) => this.emit('message', message));
      this.logs.set(sessionId, log);
    }
    if (options.liveAudio === true) this.liveAudio.add(sessionId);
    else this.liveAudio.delete(sessionId);
    try {
      const data = await this.catchUp(
        await this.connectedSocket(),
        log,
        options.sinceSeq === undefined && log.lastSeq === 0,
      );
      return { session: data.session, presence: data.presence };
    } catch (error) {
      this.forget(sessionId);
      throw error;
    }
  }

  async leave(sessionId: string): Promise<void> {
    this.forget(sessionId);
    await this.request('session:leave', { sessionId });
  }

  /** The highest seq of a joined session handed to the app. */
  lastSeq(sessionId: string): number | undefined {
    return this.logs.get(sessionId)?.lastSeq;
  }

  /**
   * Sends a message through the outbox: settled by its ack (after the server committed
   * it). Messages of one session go out one at a time, in order; across reconnects an
   * unacked one is resent with the same clientMsgId (the server stores it once); a
   * RATE_LIMITED answer waits `retryAfterMs` and tries again.
   */
  send(
    sessionId: string,
    content: string,
    options: Omit<PayloadOf<'message:send'>, 'sessionId' | 'content' | 'clientMsgId'> & { clientMsgId?: string } = {},
  ): Promise<Message> {
    if (this.closed) return Promise.reject(ended());
    const payload = { ...options, sessionId, content, clientMsgId: options.clientMsgId ?? randomId() };
    return new Promise((resolve, reject) => {
      const queue = this.outboxes.get(sessionId) ?? [];
      this.outboxes.set(sessionId, queue);
      queue.push({ payload, resolve, reject });
      void this.pump(sessionId);
    });
  }

  /** Messages sent but not acknowledged yet, per session. */
  pending(sessionId: string): number {
    return this.outboxes.get(sessionId)?.length ?? 0;
  }

  /** A streamed turn: `delta()` fragments with contiguous indexes, then `finish()` with the final text. */
  stream(sessionId: string, options: { streamId?: string; role?: MessageRole } = {}): TurnStream {
    return new TurnStream(this, sessionId, options.streamId ?? randomId(), options.role);
  }

  /**
   * Opens an audio stream to send as it is produced (a microphone's frames): `write` each
   * frame, then `end()` to store it as a message or `abort()` to drop it. Members that
   * joined with `liveAudio` hear each frame as it is acknowledged. At most `window` chunks
   * are in flight (see AudioStreamOptions); the stream lives on the current connection.
   */
  async openAudioStream(sessionId: string, options: AudioStreamOptions): Promise<AudioStream> {
    const socket = await this.connectedSocket();
    const transport: AudioStreamTransport = {
      call: (event, payload) =>
        socket.connected
          ? this.call(socket, event, payload)
          : Promise.reject(new VoiceHelperError({ code: 'UNAVAILABLE', message: 'the connection was lost' })),
      connected: () => socket.connected,
      stored: (message) => this.logs.get(sessionId)?.accept(message),
    };
    return AudioStream.open(transport, sessionId, options.streamId ?? randomId(), options);
  }

  /**
   * Sends one utterance of audio: `audio:start`, each chunk (split to at most 64 KiB, a
   * few in flight at a time, so a slow link slows the producer), `audio:end`. An audio
   * stream lives on one connection: if it drops, this rejects and the utterance must be
   * sent again.
   */
  async sendAudio(
    sessionId: string,
    audio: {
      mimeType: PayloadOf<'audio:start'>['mimeType'];
      chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
      sampleRate?: number;
      transcript?: string;
      streamId?: string;
      clientMsgId?: string;
    },
  ): Promise<Message> {
    const stream = await this.openAudioStream(sessionId, {
      mimeType: audio.mimeType,
      ...(audio.sampleRate === undefined ? {} : { sampleRate: audio.sampleRate }),
      ...(audio.streamId === undefined ? {} : { streamId: audio.streamId }),
    });
    try {
      for await (const chunk of audio.chunks) await stream.write(chunk);
    } catch (error) {
      await stream.abort().catch(() => undefined);
      throw error;
    }
    return stream.end({
      ...(audio.clientMsgId === undefined ? {} : { clientMsgId: audio.clientMsgId }),
      ...(audio.transcript === undefined ? {} : { transcript: audio.transcript }),
    });
  }

  /** A short-lived download URL of an audio message. */
  audioUrl(messageId: string): Promise<AckData['audio:url']> {
    return this.request('audio:url', { messageId });
  }

  /** Hybrid retrieval over the caller's documents (and, for services, a joined session's owner's). */
  retrieve(query: string, options: Omit<PayloadOf<'retrieve'>, 'query'> = {}): Promise<RetrieveResult> {
    return this.request('retrieve', { query, ...options });
  }

  /** Any client event, once connected; its ack's data, or a VoiceHelperError. Not retried (use `send` for messages). */
  async request<E extends ClientEventName>(event: E, payload: PayloadOf<E>): Promise<AckData[E]> {
    return this.call(await this.connectedSocket(), event, payload);
  }

  /** Resolves once connected (at once if connected now). */
  connected(): Promise<void> {
    if ((this.state === 'connected' && this.socket?.connected === true) || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  private async connectedSocket(): Promise<AppSocket> {
    for (;;) {
      if (this.closed) throw ended();
      if (this.state === 'connected' && this.socket?.connected) return this.socket;
      await this.connected();
    }
  }

  private async call<E extends ClientEventName>(
    socket: AppSocket,
    event: E,
    payload: PayloadOf<E>,
  ): Promise<AckData[E]> {
    let ack: Ack<AckData[E]>;
    try {
      const timed = socket.timeout(this.ackTimeoutMs) as unknown as {
        emitWithAck: (event: string, payload: unknown) => Promise<Ack<AckData[E]>>;
      };
      ack = await timed.emitWithAck(event, payload);
    } catch {
      throw new VoiceHelperError({
        code: 'UNAVAILABLE',
        message: socket.connected ? `no ack for ${event} within ${this.ackTimeoutMs} ms` : 'the connection was lost',
      });
    }
    if (!ack.ok) throw new VoiceHelperError(ack.error);
    return ack.data;
  }

  // Joins with the log's last seq (the first join of a session without sinceSeq: for the
  // newest page, which starts the log) and again while the server has more.
  private async catchUp(socket: AppSocket, log: SessionLog, fresh = false): Promise<AckData['session:join']> {
    for (let first = fresh; ; first = false) {
      let data: AckData['session:join'];
      try {
        data = await this.call(socket, 'session:join', {
          sessionId: log.sessionId,
          ...(first ? {} : { sinceSeq: log.lastSeq }),
          // Every join sets it anew, the catch-up's further pages and a gap's rejoin included.
          ...(this.liveAudio.has(log.sessionId) ? { liveAudio: true } : {}),
        });
      } catch (error) {
        // The client holds a seq the server does not have (v2): resume from the server's last one.
        const details =
          error instanceof VoiceHelperError && error.code === 'VALIDATION'
            ? (error.details as { lastSeq?: unknown } | undefined)
            : undefined;
        if (typeof details?.lastSeq !== 'number') throw error;
        log.startAt(details.lastSeq);
        continue;
      }
      if (first && data.messages[0] !== undefined) log.startAt(data.messages[0].seq - 1);
      for (const message of data.messages) log.accept(message);
      if (!data.hasMore || first) return data;
    }
  }

  private async pump(sessionId: string): Promise<void> {
    if (this.pumping.has(sessionId)) return;
    this.pumping.add(sessionId);
    try {
      const queue = this.outboxes.get(sessionId) ?? [];
      let attempt = 0;
      while (queue.length > 0 && !this.closed) {
        const item = queue[0] as Outgoing;
        try {
          const { message } = await this.call(await this.connectedSocket(), 'message:send', item.payload);
          queue.shift();
          attempt = 0;
          this.logs.get(sessionId)?.accept(message);
          item.resolve(message);
        } catch (error) {
          if (this.closed) break;
          if (!(error instanceof VoiceHelperError) || !RETRIABLE.has(error.code)) {
            queue.shift();
            item.reject(error);
            continue;
          }
          await sleep(error.retryAfterMs ?? backoffDelay(attempt++, this.backoff));
        }
      }
    } finally {
      this.pumping.delete(sessionId);
    }
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.closed) {
      const url = this.urls[this.urlIndex % this.urls.length] as string;
      this.setState('connecting');
      let opened: Awaited<ReturnType<VoiceHelperClient['open']>>;
      try {
        opened = await this.open(url, await this.tokens.current());
      } catch (error) {
        if (this.closed) return;
        if (isUnauthorized(error))
          await this.tokens.refresh('unauthorized').catch((e: unknown) => this.emit('error', e));
        this.urlIndex++;
        this.setState('disconnected');
        await sleep(backoffDelay(attempt++, this.backoff));
        continue;
      }
      attempt = 0;
      const notice = await this.serve(opened.socket, opened.notice);
      if (this.closed) return;
      this.setState('disconnected', notice === undefined ? {} : { reason: notice.reason });
      if (notice !== undefined && !notice.reconnect) {
        this.close();
        return;
      }
      // A draining node sends its clients elsewhere.
      if (notice?.reason === 'draining' && this.urls.length > 1) this.urlIndex++;
      if (notice?.retryAfterMs !== undefined) await sleep(notice.retryAfterMs);
    }
  }

  private open(
    url: string,
    token: string,
  ): Promise<{ socket: AppSocket; notice: () => PushOf<'sys:disconnect'> | undefined }> {
    const socket: AppSocket = io(url, {
      transports: this.options.transports ?? ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: Math.max(2_000, this.ackTimeoutMs / 2),
      auth: { token },
    });
    const notice = this.listen(socket);
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve({ socket, notice }));
      socket.once('connect_error', (error) => {
        socket.disconnect();
        reject(error);
      });
    });
  }

  // Pushes go to the logs and the app from the first packet on (sys:hello comes with the handshake).
  private listen(socket: AppSocket): () => PushOf<'sys:disconnect'> | undefined {
    let notice: PushOf<'sys:disconnect'> | undefined;
    socket.on('sys:hello', (hello) => (this.nodeId = hello.nodeId));
    socket.on('sys:disconnect', (payload) => (notice = payload));
    socket.on('message:new', ({ message }) => this.take(message));
    socket.on('message:delta', (delta) => this.emit('delta', delta));
    socket.on('presence', (presence) => this.emit('presence', presence));
    socket.on('session:updated', ({ session }) => this.emit('session:updated', session));
    socket.on('session:deleted', ({ sessionId }) => {
      this.forget(sessionId);
      this.emit('session:deleted', sessionId);
    });
    socket.on('turn:interrupted', (event) => this.emit('turn:interrupted', event));
    socket.on('document:status', (event) => this.emit('document:status', event));
    socket.on('audio:started', (event) => this.emit('audio:started', event));
    // Socket.IO hands binary to Node as a Buffer and to browsers as an ArrayBuffer.
    socket.on('audio:frame', (frame) =>
      this.emit('audio:frame', {
        ...frame,
        data: frame.data instanceof Uint8Array ? frame.data : new Uint8Array(frame.data),
      }),
    );
    socket.on('audio:ended', (event) => this.emit('audio:ended', event));
    return () => notice;
  }

  // Runs one connection: every joined session is caught up, then outboxes are flushed;
  // resolves when the connection ends, with the server's notice if any.
  private serve(
    socket: AppSocket,
    notice: () => PushOf<'sys:disconnect'> | undefined,
  ): Promise<PushOf<'sys:disconnect'> | undefined> {
    this.socket = socket;
    const done = new Promise<PushOf<'sys:disconnect'> | undefined>((resolve) =>
      socket.once('disconnect', () => resolve(notice())),
    );
    void this.resume(socket);
    return done;
  }

  private async resume(socket: AppSocket): Promise<void> {
    // Until every joined session has caught up, nothing else is sent: no message of the
    // app's can overtake what the client missed.
    const results = await Promise.allSettled([...this.logs.values()].map((log) => this.rejoin(socket, log)));
    if (socket !== this.socket || !socket.connected) return;
    for (const result of results) if (result.status === 'rejected') this.emit('error', result.reason);
    this.setState('connected', this.nodeId === undefined ? {} : { nodeId: this.nodeId });
    for (const wake of this.connectedWaiters.splice(0)) wake();
    for (const sessionId of this.outboxes.keys()) void this.pump(sessionId);
  }

  private async rejoin(socket: AppSocket, log: SessionLog): Promise<void> {
    try {
      await this.catchUp(socket, log);
    } catch (error) {
      if (error instanceof VoiceHelperError && (error.code === 'NOT_FOUND' || error.code === 'FORBIDDEN')) {
        this.forget(log.sessionId);
        this.emit('session:deleted', log.sessionId);
      }
      throw error;
    }
  }

  // A pushed message; a gap that stays open (a push lost with a connection) is filled by a join.
  private take(message: Message): void {
    const log = this.logs.get(message.sessionId);
    if (log === undefined || !log.accept(message) || this.catchingUp.has(log.sessionId)) return;
    this.catchingUp.add(log.sessionId);
    setTimeout(() => {
      const socket = this.socket;
      const run = log.hasGap && socket?.connected ? this.rejoin(socket, log) : Promise.resolve();
      run.catch((error: unknown) => this.emit('error', error)).finally(() => this.catchingUp.delete(log.sessionId));
    }, GAP_WAIT_MS);
  }

  private forget(sessionId: string): void {
    this.logs.delete(sessionId);
    this.liveAudio.delete(sessionId);
  }

  private setState(state: ConnectionState, detail: { reason?: string; nodeId?: string } = {}): void {
    if (this.state === 'ended') return;
    this.state = state;
    this.emit('state', state, detail);
  }

  /** @internal the connected socket, for TurnStream. */
  socketForStream(): Promise<AppSocket> {
    return this.connectedSocket();
  }

  /** @internal an ack'd call, for TurnStream. */
  callForStream<E extends ClientEventName>(socket: AppSocket, event: E, payload: PayloadOf<E>): Promise<AckData[E]> {
    return this.call(socket, event, payload);
  }
}

/** How long a later message may wait for an earlier one before the client asks the server. */
const GAP_WAIT_MS = 500;

/**
 * One streamed turn. Deltas go out in order, each retried across reconnects with its index
 * (the server acknowledges a resent index without relaying it again), so a client moved to
 * another node keeps streaming; a barge-in rejects later deltas with CONFLICT and marks the
 * stream interrupted.
 */
export class TurnStream {
  private index = 0;
  private chain: Promise<void> = Promise.resolve();
  /** Set once the stream was cut by a barge-in (`turn:interrupted`, or CONFLICT on a delta). */
  interrupted = false;

  constructor(
    private readonly client: VoiceHelperClient,
    readonly sessionId: string,
    readonly streamId: string,
    private readonly role: MessageRole | undefined,
  ) {
    const off = client.on('turn:interrupted', (event) => {
      if (event.streamId === streamId && event.sessionId === sessionId) {
        this.interrupted = true;
        off();
      }
    });
  }

  /** Sends the next fragment; resolves once the server took it. */
  delta(text: string): Promise<void> {
    const index = this.index++;
    const payload = {
      sessionId: this.sessionId,
      streamId: this.streamId,
      index,
      delta: text,
      ...(this.role === undefined ? {} : { role: this.role }),
    };
    const sent = this.chain.then(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.client.callForStream(await this.client.socketForStream(), 'message:delta', payload);
          return;
        } catch (error) {
          if (error instanceof VoiceHelperError && error.code === 'CONFLICT') this.interrupted = true;
          if (!(error instanceof VoiceHelperError) || !RETRIABLE.has(error.code)) throw error;
          await sleep(error.retryAfterMs ?? backoffDelay(attempt, DEFAULT_BACKOFF));
        }
      }
    });
    this.chain = sent.catch(() => undefined);
    return sent;
  }

  /** Closes the stream with its final text (after every delta went out); an interrupted stream acks the stored turn. */
  async finish(content: string, options: { tokensUsed?: number; processingTimeMs?: number } = {}): Promise<Message> {
    await this.chain;
    return this.client.send(this.sessionId, content, {
      ...options,
      ...(this.role === undefined ? {} : { role: this.role }),
      metadata: { streamId: this.streamId },
    });
  }
}

function randomId(): string {
  return globalThis.crypto.randomUUID();
}

function ended(): VoiceHelperError {
  return new VoiceHelperError({ code: 'UNAVAILABLE', message: 'the client was closed' });
}

function isUnauthorized(error: unknown): boolean {
  return error instanceof Error && /unauthori[sz]ed/i.test(error.message);
}
