import { io, type Socket } from 'socket.io-client';
import type { Ack } from '../../protocol/errors.js';
import type {
  AckData,
  AgentRevokeReason,
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
  /** A service set the transcript of an audio message of a joined session (its `content` from now on). */
  'message:transcript': (event: PushOf<'message:transcript'>) => void;
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
  /** A session was dispatched to this client's worker (see `register`; its `onDispatch` joins it for you). */
  'agent:dispatch': (event: PushOf<'agent:dispatch'>) => void;
  /** Whether a worker of a joined session's agent has it (`waiting` or `assigned`). */
  'agent:status': (event: PushOf<'agent:status'>) => void;
  /** A session dispatched to this client's worker is no longer its own: stop answering it. */
  'agent:revoked': (event: PushOf<'agent:revoked'>) => void;
  /**
   * The client serves its agent under this `workerId`: after `register`, and again after
   * each reconnect (the server forgets a worker with its socket, so the id changes).
   */
  registered: (worker: { agent: string; workerId: string }) => void;
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

/** Options of `register`. */
export interface WorkerOptions {
  /** Sessions this worker takes at once. Default: the server's (10). */
  capacity?: number;
  /**
   * Handles each session dispatched to this worker, LiveKit-entrypoint style: the client
   * has joined it when this is called, and `job.signal` aborts when the session stops being
   * this worker's. Without it the client only emits `agent:dispatch`, and the app joins.
   */
  onDispatch?: (job: DispatchedSession) => void | Promise<void>;
  /** Join dispatched sessions with `liveAudio`, to hear the user speak. Default false. */
  liveAudio?: boolean;
  /**
   * A session handed to `onDispatch` is no longer this worker's; the client has left it.
   * Not called for `release`, which the app asked for itself.
   */
  onRevoked?: (event: RevokedSession) => void;
}

/** A session dispatched to this worker and joined by the client (`WorkerOptions.onDispatch`). */
export interface DispatchedSession {
  /** The session as joined: `agentStatus` names this worker. */
  session: Session;
  presence: PresenceEntry[];
  /**
   * The newest page of the session's messages at the join (ascending), for context: they
   * are not handed to `message` listeners, which get only the messages after them.
   */
  messages: Message[];
  agent: string;
  /** Grows with every assignment of the session. */
  epoch: number;
  /** Aborted when the session is revoked or released, the connection is lost, or the client closed. */
  signal: AbortSignal;
}

/**
 * Why a dispatched session is no longer this worker's: the server's reasons, or
 * `disconnected` (the connection was lost: the server gives the worker's sessions to
 * other workers, and may dispatch them here again once the client registered anew).
 */
export type WorkerRevokeReason = AgentRevokeReason | 'disconnected';

export interface RevokedSession {
  sessionId: string;
  agent: string;
  reason: WorkerRevokeReason;
}

/** What `register` asked for, kept to register again on every new connection. */
interface Registration {
  agent: string;
  options: WorkerOptions;
  /** Set once the server first acknowledged it: only then do reconnects register again. */
  confirmed: boolean;
}

/** A session handed to `onDispatch`, while it is this worker's. */
interface Job {
  agent: string;
  epoch: number;
  controller: AbortController;
  /** `onDispatch` was called: only then is `onRevoked` due. */
  started: boolean;
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
  private registration: Registration | undefined;
  private readonly jobs = new Map<string, Job>();
  /** Leaves of revoked sessions under way: a new dispatch of one joins after its leave. */
  private readonly leaving = new Map<string, Promise<void>>();
  private socket: AppSocket | undefined;
  private urlIndex = 0;
  private closed = false;
  private connectedWaiters: (() => void)[] = [];
  private running: Promise<void> | undefined;
  /** The node of the current connection (from `sys:hello`). */
  nodeId: string | undefined;
  /** This worker's id on the current connection (see `register`); undefined while not registered. */
  workerId: string | undefined;
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
    // Before the socket goes: its disconnect would report the jobs as revoked.
    for (const job of this.jobs.values()) job.controller.abort(ended());
    this.jobs.clear();
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
    const { session, presence } = await this.joinSession(sessionId, options, false);
    return { session, presence };
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

  /**
   * Serves an agent from this client (a `service` caller; one agent per client: open
   * another client to serve another): the server dispatches sessions naming it here, at
   * most `capacity` at a time. The registration is kept: after a reconnect the client
   * registers again, before it rejoins any session, under a new `workerId` (`registered`).
   * With `onDispatch`, the client joins each dispatched session and leaves it when revoked.
   */
  async register(agent: string, options: WorkerOptions = {}): Promise<{ workerId: string }> {
    if (this.registration !== undefined)
      throw new VoiceHelperError({ code: 'CONFLICT', message: 'this client already serves an agent' });
    const registration: Registration = { agent, options, confirmed: false };
    // Set before the ack: the server pushes what waits for the agent right behind it.
    this.registration = registration;
    try {
      const { workerId } = await this.request('agent:register', this.registerPayload(registration));
      registration.confirmed = true;
      this.registered(registration, workerId);
      return { workerId };
    } catch (error) {
      if (this.registration === registration) this.registration = undefined;
      throw error;
    }
  }

  /**
   * Hands a dispatched session back: the server gives it to another worker (never back to
   * this one while it stays registered), or it waits. A session joined by `onDispatch` is
   * left and its job's signal aborted.
   */
  async release(sessionId: string): Promise<void> {
    await this.request('agent:release', { sessionId });
    const job = this.jobs.get(sessionId);
    if (job === undefined) return;
    this.jobs.delete(sessionId);
    job.controller.abort(new VoiceHelperError({ code: 'CONFLICT', message: 'the session was released' }));
    await this.leave(sessionId);
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

  // `quiet`: a first join hands the newest page to the caller instead of to `message` listeners.
  private async joinSession(
    sessionId: string,
    options: JoinOptions,
    quiet: boolean,
  ): Promise<{ session: Session; presence: PresenceEntry[]; messages: Message[] }> {
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
        options.sinceSeq === undefined && log.lastSeq === 0 ? (quiet ? 'skip' : 'deliver') : undefined,
      );
      return { session: data.session, presence: data.presence, messages: data.messages };
    } catch (error) {
      this.forget(sessionId);
      throw error;
    }
  }

  // Joins with the log's last seq and again while the server has more. The first join of a
  // session without sinceSeq asks for the newest page, which starts the log: handed on
  // (`deliver`), or only returned (`skip`).
  private async catchUp(
    socket: AppSocket,
    log: SessionLog,
    fresh?: 'deliver' | 'skip',
  ): Promise<AckData['session:join']> {
    for (let first = fresh !== undefined; ; first = false) {
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
      if (first && data.messages[0] !== undefined)
        log.startAt(fresh === 'skip' ? (data.messages.at(-1)?.seq ?? 0) : data.messages[0].seq - 1);
      // Also hands on what pushes brought past the page while joining.
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
    socket.on('message:transcript', (event) => this.emit('message:transcript', event));
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
    socket.on('agent:status', (event) => this.emit('agent:status', event));
    socket.on('agent:dispatch', (event) => {
      this.emit('agent:dispatch', event);
      void this.dispatched(event);
    });
    socket.on('agent:revoked', (event) => {
      this.emit('agent:revoked', event);
      void this.revoked(socket, event);
    });
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
      socket.once('disconnect', () => {
        this.workerLost();
        resolve(notice());
      }),
    );
    void this.resume(socket);
    return done;
  }

  private async resume(socket: AppSocket): Promise<void> {
    // The server forgot the worker with its last socket. Registered first, so that the
    // sessions waiting for the agent come back while the joined ones catch up, and no
    // rejoin can find the client a member of a session another worker now answers.
    if (this.registration?.confirmed === true) await this.registerAgain(socket, this.registration);
    if (socket !== this.socket || !socket.connected) return;
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

  private registerPayload(registration: Registration): PayloadOf<'agent:register'> {
    const { capacity } = registration.options;
    return { agent: registration.agent, ...(capacity === undefined ? {} : { capacity }) };
  }

  private registered(registration: Registration, workerId: string): void {
    this.workerId = workerId;
    this.emit('registered', { agent: registration.agent, workerId });
  }

  // Retried while this socket lasts when the server could not take it now; any other
  // refusal is the app's to see, and the next connection tries again.
  private async registerAgain(socket: AppSocket, registration: Registration): Promise<void> {
    for (let attempt = 0; socket === this.socket && socket.connected; attempt++) {
      try {
        const { workerId } = await this.call(socket, 'agent:register', this.registerPayload(registration));
        this.registered(registration, workerId);
        return;
      } catch (error) {
        if (!(error instanceof VoiceHelperError) || !RETRIABLE.has(error.code)) {
          this.emit('error', error);
          return;
        }
        await sleep(error.retryAfterMs ?? backoffDelay(attempt, this.backoff));
      }
    }
  }

  // Joins a session dispatched here and hands it to onDispatch, unless it stopped being
  // this worker's meanwhile.
  private async dispatched(event: PushOf<'agent:dispatch'>): Promise<void> {
    const onDispatch = this.registration?.options.onDispatch;
    if (onDispatch === undefined) return;
    const { sessionId, agent, epoch } = event;
    // A later assignment supersedes an earlier one of the same session.
    this.jobs.get(sessionId)?.controller.abort(superseded());
    const job: Job = { agent, epoch, controller: new AbortController(), started: false };
    this.jobs.set(sessionId, job);
    const liveAudio = this.registration?.options.liveAudio === true;
    let joined: Awaited<ReturnType<VoiceHelperClient['joinSession']>>;
    try {
      await this.leaving.get(sessionId);
      if (this.jobs.get(sessionId) !== job) return;
      joined = await this.joinSession(sessionId, liveAudio ? { liveAudio } : {}, true);
    } catch (error) {
      if (this.jobs.get(sessionId) !== job) return;
      this.jobs.delete(sessionId);
      this.emit('error', error);
      return;
    }
    if (this.jobs.get(sessionId) !== job) {
      // Revoked or lost while joining; a newer assignment keeps the membership.
      if (!this.jobs.has(sessionId)) await this.leave(sessionId).catch(() => undefined);
      return;
    }
    job.started = true;
    try {
      await onDispatch({ ...joined, agent, epoch, signal: job.controller.signal });
    } catch (error) {
      this.emit('error', error);
    }
  }

  private async revoked(socket: AppSocket, event: PushOf<'agent:revoked'>): Promise<void> {
    const job = this.jobs.get(event.sessionId);
    if (job === undefined) return;
    this.jobs.delete(event.sessionId);
    job.controller.abort(
      new VoiceHelperError({ code: 'CONFLICT', message: `the session was revoked: ${event.reason}` }),
    );
    this.forget(event.sessionId);
    // A deleted session has no membership left to end.
    if (socket.connected && event.reason !== 'deleted') {
      const left = this.call(socket, 'session:leave', { sessionId: event.sessionId }).then(
        () => undefined,
        () => undefined,
      );
      this.leaving.set(event.sessionId, left);
      await left;
      if (this.leaving.get(event.sessionId) === left) this.leaving.delete(event.sessionId);
    }
    if (job.started) this.registration?.options.onRevoked?.(event);
  }

  // The connection is gone, and the worker with it: the server gives its sessions to other
  // workers, so they are not rejoined (a new registration may be dispatched them again).
  private workerLost(): void {
    this.workerId = undefined;
    const lost = [...this.jobs].map(([sessionId, job]) => ({ sessionId, job }));
    this.jobs.clear();
    for (const { sessionId, job } of lost) {
      this.forget(sessionId);
      job.controller.abort(new VoiceHelperError({ code: 'UNAVAILABLE', message: 'the connection was lost' }));
      if (job.started) this.registration?.options.onRevoked?.({ sessionId, agent: job.agent, reason: 'disconnected' });
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

function superseded(): VoiceHelperError {
  return new VoiceHelperError({ code: 'CONFLICT', message: 'the session was dispatched here again' });
}

function ended(): VoiceHelperError {
  return new VoiceHelperError({ code: 'UNAVAILABLE', message: 'the client was closed' });
}

function isUnauthorized(error: unknown): boolean {
  return error instanceof Error && /unauthori[sz]ed/i.test(error.message);
}
