import type { Message } from '../../protocol/models.js';
import type { Logger } from '../logger.js';
import type { ConversationDelivery } from '../services/conversation.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import { channels } from '../stores/names.js';
import type { PubSub } from '../stores/pubsub/pubsub.js';
import { carrier, continued, SpanKind, type TraceCarrier, traced, tracingOn } from '../tracing.js';
import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import { drained } from './outbound.js';
import { sessionRoom } from './rooms.js';

/** Options of the relay. */
export interface MessageRelayOptions {
  /** How long an out-of-order message waits for the missing ones before they are read from PostgreSQL. Default `GAP_TIMEOUT_MS`. */
  gapTimeoutMs?: number;
  /** How often quiet sessions are compared with PostgreSQL, to find a lost last message. Default `POLL_MS`. */
  pollMs?: number;
  /**
   * Most out-of-order messages held per session while a gap waits to be filled; beyond it
   * the newest are dropped and read from PostgreSQL once the gap is filled. Default `MAX_PENDING`.
   */
  maxPending?: number;
  /**
   * A socket catching up is sent more history only while fewer than this many bytes wait
   * to be written to it (`OUTBOUND_SOFT_LIMIT_BYTES`).
   */
  outboundSoftLimitBytes: number;
  /** How long a catch-up waits for a socket to drain before it counts as a slow consumer (`SLOW_CONSUMER_TIMEOUT_MS`). */
  drainTimeoutMs: number;
  /** Called for a socket that did not drain in time (it is then ended). */
  onSlowConsumer?: (socket: AppSocket) => void;
  /** Called with each message of a session this node follows, in seq order (turn latency). */
  onMessage?: (message: Message) => void;
}

/** The relay's own tuning, not configuration: tests shorten them. */
const GAP_TIMEOUT_MS = 250;
const POLL_MS = 2_000;
const MAX_PENDING = 1_000;

interface Published {
  message: Message;
  /** Socket that sent it (gets it in its ack, not as message:new). */
  origin: string | null;
  /** The publishing span's context, when tracing is on: each node's delivery joins its trace. */
  trace?: TraceCarrier;
}

interface LocalSocket {
  socket: AppSocket;
  /** Highest seq this socket has (from its join snapshot, an ack, or message:new). */
  delivered: number;
  /**
   * Seqs above `delivered` that the socket holds already from its own acks (it sent them
   * while others' messages before them were still on their way): never sent to it again,
   * whether they arrive announced or read from PostgreSQL, which does not know the sender.
   */
  acked: Set<number>;
  /** While joining, messages wait here until the snapshot is known. */
  joining: Published[] | undefined;
  catchingUp: boolean;
}

interface Feed {
  sessionId: string;
  /** Highest seq processed in order on this node; undefined until the first join knows it. */
  lastSeq: number | undefined;
  pending: Map<number, Published>;
  /** Messages above the pending ones were dropped (maxPending): read on from PostgreSQL. */
  behind: boolean;
  sockets: Map<string, LocalSocket>;
  gapTimer: NodeJS.Timeout | undefined;
  lastActivity: number;
  unsubscribe: Promise<() => Promise<void>>;
}

const PAGE = 500;
const channel = channels.messages;

/**
 * Delivers committed messages to every socket of a session on this node, in seq order,
 * exactly once each.
 *
 * Every node that commits a message publishes it on the session's channel (Redis pub/sub,
 * or in process). Publishes from different nodes can cross, and Redis pub/sub may drop a
 * message, so ordering is restored here, at the receiving node: messages are processed
 * strictly by seq; one that arrives early waits `gapTimeoutMs` for the missing ones, which
 * are then read from PostgreSQL (the source of truth); quiet sessions are compared with
 * `sessions.last_seq` every `pollMs` so that a lost last message is found too. Each socket
 * also keeps the highest seq it holds, so a socket that joined mid-stream neither misses
 * nor repeats a message.
 */
export class MessageRelay implements ConversationDelivery<AppSocket> {
  private readonly feeds = new Map<string, Feed>();
  /** The sessions each socket follows on this node (so a disconnect need not scan every feed). */
  private readonly bySocket = new Map<string, Set<string>>();
  private readonly gapTimeoutMs: number;
  private readonly maxPending: number;
  private readonly softLimit: number;
  private readonly drainTimeoutMs: number;
  private readonly onSlowConsumer: (socket: AppSocket) => void;
  private readonly onMessage: (message: Message) => void;
  private readonly poller: NodeJS.Timeout;

  constructor(
    private readonly io: AppServer,
    private readonly pubsub: PubSub,
    private readonly messages: MessageStore,
    private readonly lastSeqs: (sessionIds: string[]) => Promise<Map<string, number>>,
    private readonly logger: Logger,
    options: MessageRelayOptions,
  ) {
    this.gapTimeoutMs = options.gapTimeoutMs ?? GAP_TIMEOUT_MS;
    this.maxPending = options.maxPending ?? MAX_PENDING;
    this.softLimit = options.outboundSoftLimitBytes;
    this.drainTimeoutMs = options.drainTimeoutMs;
    this.onSlowConsumer = options.onSlowConsumer ?? ((socket) => socket.disconnect(true));
    this.onMessage = options.onMessage ?? (() => undefined);
    const pollMs = options.pollMs ?? POLL_MS;
    this.poller = setInterval(() => void this.pollQuiet(pollMs), pollMs);
    this.poller.unref();
  }

  /** Announces a committed message to every node (including this one). */
  async publish(message: Message, origin: string | null): Promise<void> {
    if (!tracingOn()) {
      await this.pubsub.publish(channel(message.sessionId), JSON.stringify({ message, origin }));
      return;
    }
    await traced(
      'relay publish',
      { 'voicehelper.session': message.sessionId, 'voicehelper.seq': message.seq },
      async () => {
        const trace = carrier();
        const payload: Published = trace === undefined ? { message, origin } : { message, origin, trace };
        await this.pubsub.publish(channel(message.sessionId), JSON.stringify(payload));
      },
      SpanKind.PRODUCER,
    );
  }

  /**
   * After a commit: the sending socket (if any) holds the message from its ack, and a new
   * message is announced to every node. A failed announcement is only logged: receivers
   * find the message in PostgreSQL (gap filling and the quiet-session poll).
   */
  committed(message: Message, duplicate: boolean, socket: AppSocket | null): void {
    if (socket !== null) this.acknowledged(socket, message.sessionId, message.seq);
    if (duplicate) return;
    this.publish(message, socket?.id ?? null).catch((error: unknown) =>
      this.logger.warn(
        { err: error, sessionId: message.sessionId },
        'publishing a message failed; nodes will read it from PostgreSQL',
      ),
    );
  }

  /** A barge-in stored `message` as its stream's interrupted turn: every member, on every node, stops generating. */
  interrupted(message: Message): void {
    this.io.to(sessionRoom(message.sessionId)).emit('turn:interrupted', {
      sessionId: message.sessionId,
      streamId: String(message.metadata['streamId']),
      messageId: message.id,
    });
  }

  /**
   * Starts delivering a session to a socket. `snapshot` runs after the subscription is in
   * place and returns the highest seq the socket gets from its join response; the
   * socket then receives every later message exactly once, in order.
   */
  async join<T>(
    socket: AppSocket,
    sessionId: string,
    snapshot: () => Promise<{ result: T; delivered: number; lastSeq: number }>,
  ): Promise<T> {
    const feed = this.feed(sessionId);
    const existing = feed.sockets.get(socket.id);
    const local: LocalSocket = existing ?? { socket, delivered: 0, acked: new Set(), joining: [], catchingUp: false };
    local.joining = [];
    local.acked.clear();
    feed.sockets.set(socket.id, local);
    let sessions = this.bySocket.get(socket.id);
    if (sessions === undefined) {
      sessions = new Set();
      this.bySocket.set(socket.id, sessions);
    }
    sessions.add(sessionId);
    try {
      await feed.unsubscribe;
      await socket.join(sessionRoom(sessionId));
      const { result, delivered, lastSeq } = await snapshot();
      const waiting = (local.joining ?? []).sort((a, b) => a.message.seq - b.message.seq);
      local.joining = undefined;
      local.delivered = delivered;
      if (feed.lastSeq === undefined) {
        // The first socket of the session on this node: the feed starts at its snapshot.
        feed.lastSeq = lastSeq;
        for (const published of waiting)
          if (published.message.seq > lastSeq) feed.pending.set(published.message.seq, published);
        this.drain(feed);
      } else {
        for (const published of waiting) this.deliverTo(feed, local, published);
      }
      if (local.delivered < (feed.lastSeq ?? 0)) void this.catchUp(feed, local);
      return result;
    } catch (error) {
      this.leave(socket, sessionId);
      throw error;
    }
  }

  /** Records that `socket` holds `seq` already (its own message, acked to it). */
  acknowledged(socket: AppSocket, sessionId: string, seq: number): void {
    const local = this.feeds.get(sessionId)?.sockets.get(socket.id);
    if (local === undefined || local.joining !== undefined || seq <= local.delivered) return;
    if (seq === local.delivered + 1) local.delivered = seq;
    else local.acked.add(seq);
  }

  /** The highest seq this node has processed in order for a session it follows (a committed seq), if any. */
  lastSeqOf(sessionId: string): number | undefined {
    return this.feeds.get(sessionId)?.lastSeq;
  }

  /** True while the socket is joined to the session on this node. */
  isJoined(socket: AppSocket, sessionId: string): boolean {
    return this.feeds.get(sessionId)?.sockets.has(socket.id) ?? false;
  }

  /** Stops delivering a session to a socket. */
  leave(socket: AppSocket, sessionId: string): void {
    void socket.leave(sessionRoom(sessionId));
    const sessions = this.bySocket.get(socket.id);
    sessions?.delete(sessionId);
    if (sessions?.size === 0) this.bySocket.delete(socket.id);
    const feed = this.feeds.get(sessionId);
    if (feed === undefined) return;
    feed.sockets.delete(socket.id);
    if (feed.sockets.size === 0) this.drop(feed);
  }

  /** Out-of-order messages held on this node, over all sessions (a gauge for /metrics). */
  pendingCount(): number {
    let count = 0;
    for (const feed of this.feeds.values()) count += feed.pending.size;
    return count;
  }

  /** Sessions the socket is joined to on this node. */
  sessionsOf(socket: AppSocket): string[] {
    return [...(this.bySocket.get(socket.id) ?? [])];
  }

  async close(): Promise<void> {
    clearInterval(this.poller);
    for (const feed of [...this.feeds.values()]) this.drop(feed);
  }

  private feed(sessionId: string): Feed {
    const feed = this.feeds.get(sessionId);
    if (feed !== undefined) return feed;
    const created: Feed = {
      sessionId,
      lastSeq: undefined,
      pending: new Map(),
      behind: false,
      sockets: new Map(),
      gapTimer: undefined,
      lastActivity: Date.now(),
      unsubscribe: this.pubsub.subscribe(channel(sessionId), (raw) => this.receive(created, raw)),
    };
    created.unsubscribe.catch((error: unknown) =>
      this.logger.error({ err: error, sessionId }, 'subscribing to a session failed'),
    );
    this.feeds.set(sessionId, created);
    return created;
  }

  private drop(feed: Feed): void {
    clearTimeout(feed.gapTimer);
    for (const socketId of feed.sockets.keys()) {
      const sessions = this.bySocket.get(socketId);
      sessions?.delete(feed.sessionId);
      if (sessions?.size === 0) this.bySocket.delete(socketId);
    }
    if (this.feeds.get(feed.sessionId) === feed) this.feeds.delete(feed.sessionId);
    feed.unsubscribe.then((unsubscribe) => unsubscribe()).catch(() => undefined);
  }

  private receive(feed: Feed, raw: string): void {
    let published: Published;
    try {
      published = JSON.parse(raw) as Published;
    } catch {
      return;
    }
    feed.lastActivity = Date.now();
    if (feed.lastSeq === undefined) {
      // No snapshot yet: the joining sockets buffer it.
      for (const local of feed.sockets.values()) local.joining?.push(published);
      return;
    }
    const seq = published.message.seq;
    if (seq <= feed.lastSeq) return;
    feed.pending.set(seq, published);
    this.bound(feed);
    this.drain(feed);
    if ((feed.pending.size > 0 || feed.behind) && feed.gapTimer === undefined) {
      feed.gapTimer = setTimeout(() => void this.fillGap(feed), this.gapTimeoutMs);
    }
  }

  /**
   * Keeps at most maxPending messages waiting (a gap that PostgreSQL cannot fill for a
   * while must not grow memory without end): the newest go, since they are committed and
   * are read back in order once the gap closes.
   */
  private bound(feed: Feed): void {
    if (feed.pending.size <= this.maxPending) return;
    const newest = [...feed.pending.keys()].sort((a, b) => b - a).slice(0, feed.pending.size - this.maxPending);
    for (const seq of newest) feed.pending.delete(seq);
    if (!feed.behind)
      this.logger.warn(
        { sessionId: feed.sessionId, held: this.maxPending },
        'too many messages wait for a gap; the rest will be read from PostgreSQL',
      );
    feed.behind = true;
  }

  /** Processes pending messages while the next seq is there. */
  private drain(feed: Feed): void {
    while (feed.lastSeq !== undefined) {
      const next = feed.pending.get(feed.lastSeq + 1);
      if (next === undefined) break;
      feed.pending.delete(next.message.seq);
      feed.lastSeq = next.message.seq;
      this.process(feed, next);
    }
    if (feed.pending.size === 0 && !feed.behind) {
      clearTimeout(feed.gapTimer);
      feed.gapTimer = undefined;
    }
  }

  private async fillGap(feed: Feed): Promise<void> {
    feed.gapTimer = undefined;
    if (
      feed.lastSeq === undefined ||
      (feed.pending.size === 0 && !feed.behind) ||
      this.feeds.get(feed.sessionId) !== feed
    )
      return;
    try {
      const page = await this.messages.since(feed.sessionId, feed.lastSeq, PAGE);
      for (const message of page.messages)
        if (!feed.pending.has(message.seq)) feed.pending.set(message.seq, { message, origin: null });
      if (!page.hasMore) feed.behind = false;
      this.bound(feed);
      this.drain(feed);
    } catch (error) {
      this.logger.warn({ err: error, sessionId: feed.sessionId }, 'filling a message gap failed; retrying');
    }
    if ((feed.pending.size > 0 || feed.behind) && feed.gapTimer === undefined) {
      feed.gapTimer = setTimeout(() => void this.fillGap(feed), this.gapTimeoutMs);
    }
  }

  /** Emits one in-order message to the sockets that are exactly one behind it. */
  private process(feed: Feed, published: Published): void {
    const { message, origin } = published;
    this.onMessage(message);
    const skip: string[] = [];
    for (const [id, local] of feed.sockets) {
      if (local.joining !== undefined) {
        local.joining.push(published);
        skip.push(id);
      } else if (message.seq <= local.delivered) {
        skip.push(id);
      } else if (message.seq === local.delivered + 1) {
        local.delivered = message.seq;
        if (local.acked.delete(message.seq) || id === origin) skip.push(id);
      } else {
        skip.push(id);
        void this.catchUp(feed, local);
      }
    }
    if (skip.length === feed.sockets.size) return;
    const emit = () => {
      this.io.local.to(sessionRoom(feed.sessionId)).except(skip).emit('message:new', { message });
    };
    // Nothing more on the hot path while tracing is off.
    if (published.trace === undefined || !tracingOn()) {
      emit();
      return;
    }
    continued(
      'message deliver',
      published.trace,
      {
        'voicehelper.session': message.sessionId,
        'voicehelper.seq': message.seq,
        'voicehelper.sockets': feed.sockets.size - skip.length,
      },
      SpanKind.CONSUMER,
      emit,
    );
  }

  /** Hands one message to one socket if it is the next it needs; catches up otherwise. */
  private deliverTo(feed: Feed, local: LocalSocket, published: Published): void {
    const seq = published.message.seq;
    if (seq <= local.delivered) return;
    if (seq === local.delivered + 1) {
      local.delivered = seq;
      const held = local.acked.delete(seq);
      if (!held && published.origin !== local.socket.id)
        local.socket.emit('message:new', { message: published.message });
      return;
    }
    void this.catchUp(feed, local);
  }

  /**
   * Sends a socket that fell behind everything after its delivered seq, from PostgreSQL,
   * with backpressure: no more is written while the socket has `outboundSoftLimitBytes`
   * waiting, and a socket that does not drain within `drainTimeoutMs` is a slow consumer.
   */
  private async catchUp(feed: Feed, local: LocalSocket): Promise<void> {
    if (local.catchingUp) return;
    local.catchingUp = true;
    try {
      for (;;) {
        const from = local.delivered;
        const page = await this.messages.since(feed.sessionId, from, PAGE);
        for (const message of page.messages) {
          if (message.seq !== local.delivered + 1) continue;
          if (local.acked.delete(message.seq)) {
            local.delivered = message.seq;
            continue;
          }
          if (!(await drained(local.socket, this.softLimit, this.drainTimeoutMs))) {
            if (local.socket.connected) this.onSlowConsumer(local.socket);
            return;
          }
          // While it drained, the live feed may have handed the socket this very message.
          if (message.seq !== local.delivered + 1) continue;
          local.delivered = message.seq;
          local.socket.emit('message:new', { message });
        }
        if (!feed.sockets.has(local.socket.id) || local.delivered === from) break;
        // The live feed skips a socket that is catching up and behind it: read again until it is level.
        if (!page.hasMore && local.delivered >= (feed.lastSeq ?? 0)) break;
      }
    } catch (error) {
      this.logger.warn({ err: error, sessionId: feed.sessionId }, 'catching a socket up failed');
    } finally {
      local.catchingUp = false;
    }
  }

  /** Compares quiet sessions with PostgreSQL, so that a lost last message is delivered. */
  private async pollQuiet(quietMs: number): Promise<void> {
    const quiet = [...this.feeds.values()].filter(
      (f) => f.lastSeq !== undefined && Date.now() - f.lastActivity >= quietMs,
    );
    if (quiet.length === 0) return;
    try {
      const latest = await this.lastSeqs(quiet.map((f) => f.sessionId));
      for (const feed of quiet) {
        const seq = latest.get(feed.sessionId);
        if (seq === undefined || feed.lastSeq === undefined || seq <= feed.lastSeq) continue;
        feed.lastActivity = Date.now();
        const page = await this.messages.since(feed.sessionId, feed.lastSeq, PAGE);
        for (const message of page.messages) feed.pending.set(message.seq, { message, origin: null });
        this.drain(feed);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'comparing sessions with PostgreSQL failed');
    }
  }
}
