import { randomUUID } from 'node:crypto';
import type { AudioEndedEvent, AudioFrameEvent, AudioStartedEvent } from '../../protocol/events.js';
import type { Logger } from '../logger.js';
import { channels } from '../stores/names.js';
import { type PubSub, subscribeJson } from '../stores/pubsub/pubsub.js';
import type { AudioStream, AudioStreamEnd, AudioStreamObserver } from './audio-streams.js';
import type { AppSocket } from './dispatcher.js';
import { outboundBytes } from './outbound.js';

/** How often frames held for a socket that is not reading are offered to it again. */
const RETRY_MS = 20;

/** One live audio event, as it crosses the bus (its bytes, for a frame, follow the header). */
type Live =
  | { kind: 'started'; event: AudioStartedEvent }
  | { kind: 'frame'; event: Omit<AudioFrameEvent, 'data' | 'dropped'>; data: Buffer }
  | { kind: 'ended'; event: AudioEndedEvent };

/**
 * What a node publishes: the event, the socket that streams it (which never gets it back)
 * and the node that socket is on (whose death ends the stream for the listeners).
 */
type Published = Live & { origin: string; node: string; boot: string };

/** Options of the live relay. */
export interface LiveAudioOptions {
  /** Frames held for one socket that is not reading them; past it the oldest go (LIVE_AUDIO_BUFFER_FRAMES). */
  bufferFrames: number;
  /** A socket is handed more live audio only while fewer bytes wait to be written to it (OUTBOUND_SOFT_LIMIT_BYTES). */
  outboundLimitBytes: number;
  /** How often the nodes of streams relayed here are checked for being alive (STREAM_SWEEP_MS). */
  sweepMs: number;
  /**
   * A stream is discarded by its node after this long without chunks (AUDIO_STREAM_TIMEOUT_MS):
   * a relayed stream silent for twice as long is forgotten (its live node's end was lost).
   */
  streamTimeoutMs: number;
}

/** A stream of another node that this node relays to its listeners, until its end or its node's death. */
interface RemoteStream {
  node: string;
  /** The run of that node (a node restarted under the same id is another run). */
  boot: string;
  feed: Feed;
  sessionId: string;
  streamId: string;
  /** When its last event came (performance.now()). */
  lastAt: number;
}

/** One socket of this node that joined sessions with `liveAudio`. */
interface Listener {
  socket: AppSocket;
  sessions: Set<string>;
  /** Live events not handed to the socket yet, in the order they came. */
  queue: Live[];
  /** How many of `queue` are frames (the droppable ones). */
  frames: number;
  /** Frames dropped per stream since the stream's last frame this socket got. */
  dropped: Map<string, number>;
  /** The last frame index queued per stream: a frame is never queued twice or out of order. */
  lastIndex: Map<string, number>;
  /** Streams whose `audio:started` this socket was given: a repeat (for a later listener) is not given again. */
  started: Set<string>;
  retry: NodeJS.Timeout | undefined;
}

/** The sessions this node has live listeners of, with its subscription to each. */
interface Feed {
  listeners: Set<Listener>;
  subscription: Promise<() => Promise<void>>;
}

function streamKey(sessionId: string, streamId: string): string {
  return `${sessionId}/${streamId}`;
}

/** A 4-byte header length, the header as JSON, then a frame's bytes. */
function encode(published: Published): Buffer {
  const { data, ...header } = published.kind === 'frame' ? published : { ...published, data: undefined };
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.byteLength);
  return Buffer.concat(data === undefined ? [length, json] : [length, json, data]);
}

function decode(raw: Buffer): Published | undefined {
  if (raw.byteLength < 4) return undefined;
  const length = raw.readUInt32BE(0);
  if (4 + length > raw.byteLength) return undefined;
  try {
    const header = JSON.parse(raw.subarray(4, 4 + length).toString()) as Published;
    return header.kind === 'frame' ? { ...header, data: raw.subarray(4 + length) } : header;
  } catch {
    return undefined;
  }
}

/**
 * Relays audio streams live to the sockets that joined their session with `liveAudio`, on
 * every node, before (and whatever becomes of) their storage.
 *
 * The node that receives a stream tells the session's pub/sub channel, in binary, of its
 * start, each accepted chunk and its end, as they happen (the chunk's ack does not wait).
 * A node subscribes to a session's channel while it has a live listener of it, and hands
 * each event to those listeners except the socket that streams it. Events of one stream all
 * come from one node, so they arrive in order; each listener also keeps the last index it
 * got per stream, so a frame is never repeated or reordered.
 *
 * A listener that does not read must not slow the speaker or other listeners: events are
 * handed to a socket only while less than `outboundLimitBytes` waits to be written to it;
 * the rest wait in its own queue, where at most `bufferFrames` frames are held and the
 * oldest unsent ones are dropped past it. The next frame of that stream it gets (or its
 * end) carries how many were dropped.
 */
export class LiveAudio implements AudioStreamObserver {
  private readonly listeners = new Map<string, Listener>();
  private readonly feeds = new Map<string, Feed>();
  /** Streams open on this node, by session: their start is told again to a socket that listens later. */
  private readonly open = new Map<string, Map<string, AudioStream>>();
  /** Streams of other nodes relayed here, by stream key. */
  private readonly remote = new Map<string, RemoteStream>();
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;
  private stopBoots: (() => Promise<void>) | undefined;
  /** This run of this node: a node restarted under the same NODE_ID has streams of its own, not its earlier run's. */
  private readonly boot = randomUUID();
  private stopAnswering: (() => Promise<void>) | undefined;
  private dropCount = 0;

  constructor(
    private readonly deps: {
      pubsub: PubSub;
      logger: Logger;
      /** This node's id, carried by what it publishes. */
      nodeId: string;
      /** Which of these nodes still heart-beat (the presence store's). */
      aliveNodes: (nodeIds: readonly string[]) => Promise<Set<string>>;
    },
    private readonly options: LiveAudioOptions,
  ) {}

  /**
   * Answers sockets that begin listening on any node while a stream of this node is open
   * in their session: its `audio:started` is published again, and the listeners that were
   * given it already skip it.
   */
  async start(): Promise<void> {
    this.stopAnswering = await subscribeJson<{ sessionId: string }>(
      this.deps.pubsub,
      channels.audioOpenStreams,
      ({ sessionId }) => {
        for (const stream of this.open.get(sessionId)?.values() ?? []) this.started(stream);
      },
    );
    this.sweeper = setInterval(() => void this.endStreamsOfDeadNodes(), this.options.sweepMs);
    this.sweeper.unref();
    // A node restarted under the same id heart-beats again at once: its earlier run's streams
    // end when it says it started, not when its heartbeat expires (it never does).
    this.stopBoots = await subscribeJson<{ node: string; boot: string }>(
      this.deps.pubsub,
      channels.audioNodeBoot,
      ({ node, boot }) => {
        for (const [key, stream] of this.remote)
          if (stream.node === node && stream.boot !== boot) this.endRemote(key, stream, 'restarted');
      },
    );
    await this.deps.pubsub
      .publish(channels.audioNodeBoot, JSON.stringify({ node: this.deps.nodeId, boot: this.boot }))
      .catch((error: unknown) => this.deps.logger.debug({ err: error }, 'announcing this run to live audio failed'));
  }

  /** Tells this node's listeners of a relayed stream that it ended, its node being gone. */
  private endRemote(key: string, stream: RemoteStream, why: 'dead' | 'restarted'): void {
    this.remote.delete(key);
    this.deps.logger.info(
      { sessionId: stream.sessionId, streamId: stream.streamId, node: stream.node, why },
      'the node of a live audio stream is gone; its listeners are told the stream ended',
    );
    const ended: Live = {
      kind: 'ended',
      event: { sessionId: stream.sessionId, streamId: stream.streamId, discarded: true, reason: 'socket_gone' },
    };
    for (const listener of stream.feed.listeners) this.enqueue(listener, ended);
  }

  /**
   * A node that dies can no longer tell anyone that its streams ended: the listeners here
   * are told instead (`discarded`, `socket_gone`: the sender's socket went with its node)
   * once the node's heartbeat has expired. A speaker who reconnects elsewhere speaks again
   * under a new stream id; nothing of the old stream was stored.
   */
  private async endStreamsOfDeadNodes(): Promise<void> {
    if (this.sweeping || this.remote.size === 0) return;
    this.sweeping = true;
    try {
      const nodes = [...new Set([...this.remote.values()].map((r) => r.node))];
      const alive = await this.deps.aliveNodes(nodes);
      const forgetBefore = performance.now() - 2 * this.options.streamTimeoutMs;
      for (const [key, stream] of this.remote) {
        if (stream.lastAt < forgetBefore) this.remote.delete(key);
        else if (!alive.has(stream.node)) this.endRemote(key, stream, 'dead');
      }
    } catch (error) {
      this.deps.logger.debug({ err: error }, 'checking the nodes of live audio streams failed; retrying');
    } finally {
      this.sweeping = false;
    }
  }

  /** Frames dropped on this node for sockets that did not read them (a counter in /metrics). */
  get droppedFrames(): number {
    return this.dropCount;
  }

  /** The socket receives the session's audio streams from now on; resolves once this node follows them. */
  async listen(socket: AppSocket, sessionId: string): Promise<void> {
    // A socket that went away while its join was on the way was already dropped: adding it
    // now would keep its listener and the session's subscription forever.
    if (!socket.connected) return;
    let listener = this.listeners.get(socket.id);
    if (listener === undefined) {
      listener = {
        socket,
        sessions: new Set(),
        queue: [],
        frames: 0,
        dropped: new Map(),
        lastIndex: new Map(),
        started: new Set(),
        retry: undefined,
      };
      this.listeners.set(socket.id, listener);
    }
    let feed = this.feeds.get(sessionId);
    if (feed === undefined) {
      const channel = channels.audio(sessionId);
      const created: Feed = {
        listeners: new Set(),
        subscription: this.deps.pubsub.subscribeBuffer(channel, (raw) => this.receive(created, raw)),
      };
      // A failed subscription is the joining socket's error; a later join tries again.
      created.subscription.catch(() => {
        if (this.feeds.get(sessionId) === created) this.feeds.delete(sessionId);
      });
      this.feeds.set(sessionId, created);
      feed = created;
    }
    const already = listener.sessions.has(sessionId);
    listener.sessions.add(sessionId);
    feed.listeners.add(listener);
    try {
      await feed.subscription;
    } catch (error) {
      this.unlisten(socket, sessionId);
      throw error;
    }
    // Streams already open in the session start for this socket too (their nodes answer).
    if (!already)
      this.deps.pubsub
        .publish(channels.audioOpenStreams, JSON.stringify({ sessionId }))
        .catch((error: unknown) => this.deps.logger.debug({ err: error, sessionId }, 'asking for open streams failed'));
  }

  /** The socket no longer receives the session's audio (it left, or joined again without `liveAudio`). */
  unlisten(socket: AppSocket, sessionId: string): void {
    const listener = this.listeners.get(socket.id);
    if (listener === undefined || !listener.sessions.delete(sessionId)) return;
    listener.queue = listener.queue.filter((live) => live.event.sessionId !== sessionId);
    listener.frames = listener.queue.filter((live) => live.kind === 'frame').length;
    for (const map of [listener.dropped, listener.lastIndex])
      for (const key of map.keys()) if (key.startsWith(`${sessionId}/`)) map.delete(key);
    for (const key of listener.started) if (key.startsWith(`${sessionId}/`)) listener.started.delete(key);
    if (listener.sessions.size === 0) {
      clearTimeout(listener.retry);
      this.listeners.delete(socket.id);
    }
    const feed = this.feeds.get(sessionId);
    if (feed === undefined) return;
    feed.listeners.delete(listener);
    if (feed.listeners.size > 0) return;
    this.feeds.delete(sessionId);
    for (const [key, stream] of this.remote) if (stream.feed === feed) this.remote.delete(key);
    feed.subscription.then((unsubscribe) => unsubscribe()).catch(() => undefined);
  }

  /** Every session of a socket that went away. */
  dropSocket(socket: AppSocket): void {
    for (const sessionId of [...(this.listeners.get(socket.id)?.sessions ?? [])]) this.unlisten(socket, sessionId);
  }

  started(stream: AudioStream): void {
    const streams = this.open.get(stream.sessionId) ?? new Map<string, AudioStream>();
    streams.set(stream.streamId, stream);
    this.open.set(stream.sessionId, streams);
    this.publish(stream, {
      kind: 'started',
      event: {
        sessionId: stream.sessionId,
        streamId: stream.streamId,
        senderId: stream.userId,
        role: stream.speaker,
        mimeType: stream.mimeType,
        ...(stream.sampleRate === undefined ? {} : { sampleRate: stream.sampleRate }),
      },
    });
  }

  frame(stream: AudioStream, index: number, data: Buffer): void {
    this.publish(stream, {
      kind: 'frame',
      event: { sessionId: stream.sessionId, streamId: stream.streamId, index },
      data,
    });
  }

  ended(stream: AudioStream, end: AudioStreamEnd): void {
    const streams = this.open.get(stream.sessionId);
    if (streams?.get(stream.streamId) === stream) {
      streams.delete(stream.streamId);
      if (streams.size === 0) this.open.delete(stream.sessionId);
    }
    this.publish(stream, { kind: 'ended', event: { sessionId: stream.sessionId, streamId: stream.streamId, ...end } });
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.remote.clear();
    await this.stopBoots?.().catch(() => undefined);
    await this.stopAnswering?.().catch(() => undefined);
    for (const listener of this.listeners.values()) clearTimeout(listener.retry);
    this.listeners.clear();
    const feeds = [...this.feeds.values()];
    this.feeds.clear();
    await Promise.allSettled(feeds.map((feed) => feed.subscription.then((unsubscribe) => unsubscribe())));
  }

  private publish(stream: AudioStream, live: Live): void {
    this.deps.pubsub
      .publishBuffer(
        channels.audio(stream.sessionId),
        encode({ ...live, origin: stream.socketId, node: this.deps.nodeId, boot: this.boot }),
      )
      .catch((error: unknown) =>
        this.deps.logger.debug(
          { err: error, sessionId: stream.sessionId, streamId: stream.streamId },
          'publishing live audio failed',
        ),
      );
  }

  private receive(feed: Feed, raw: Buffer): void {
    const published = decode(raw);
    if (published === undefined) return;
    // Streams of other nodes are followed until they end (a node of the previous release,
    // during a rolling upgrade, names neither itself nor its run: its streams are not).
    if (published.boot !== this.boot && published.node !== undefined && published.boot !== undefined) {
      const key = streamKey(published.event.sessionId, published.event.streamId);
      const known = this.remote.get(key);
      if (published.kind === 'ended') this.remote.delete(key);
      else if (known !== undefined && known.boot === published.boot) known.lastAt = performance.now();
      else
        this.remote.set(key, {
          node: published.node,
          boot: published.boot,
          feed,
          sessionId: published.event.sessionId,
          streamId: published.event.streamId,
          lastAt: performance.now(),
        });
    }
    for (const listener of feed.listeners)
      if (listener.socket.id !== published.origin) this.enqueue(listener, published);
  }

  private enqueue(listener: Listener, live: Live): void {
    const key = streamKey(live.event.sessionId, live.event.streamId);
    if (live.kind === 'started') {
      if (listener.started.has(key)) return;
      listener.started.add(key);
    } else if (live.kind === 'frame') {
      if (live.event.index <= (listener.lastIndex.get(key) ?? -1)) return;
      listener.lastIndex.set(key, live.event.index);
      listener.frames++;
      if (listener.frames > this.options.bufferFrames) this.dropOldest(listener);
    } else {
      listener.lastIndex.delete(key);
      listener.started.delete(key);
    }
    listener.queue.push(live);
    this.pump(listener);
  }

  /** Drops the oldest frame the socket has not been handed, and counts it against its stream. */
  private dropOldest(listener: Listener): void {
    const at = listener.queue.findIndex((live) => live.kind === 'frame');
    if (at < 0) return;
    const [live] = listener.queue.splice(at, 1);
    if (live === undefined) return;
    listener.frames--;
    const key = streamKey(live.event.sessionId, live.event.streamId);
    listener.dropped.set(key, (listener.dropped.get(key) ?? 0) + 1);
    this.dropCount++;
  }

  /** Hands queued events to the socket while it is reading; tries again shortly otherwise. */
  private pump(listener: Listener): void {
    const { socket } = listener;
    if (!socket.connected) {
      listener.queue = [];
      listener.frames = 0;
      return;
    }
    while (listener.queue.length > 0 && outboundBytes(socket) <= this.options.outboundLimitBytes) {
      const live = listener.queue.shift() as Live;
      const key = streamKey(live.event.sessionId, live.event.streamId);
      const dropped = listener.dropped.get(key);
      if (live.kind !== 'started') listener.dropped.delete(key);
      const droppedField = dropped === undefined || live.kind === 'started' ? {} : { dropped };
      if (live.kind === 'started') socket.emit('audio:started', live.event);
      else if (live.kind === 'frame') {
        listener.frames--;
        socket.emit('audio:frame', { ...live.event, data: live.data, ...droppedField });
      } else socket.emit('audio:ended', { ...live.event, ...droppedField });
    }
    if (listener.queue.length > 0 && listener.retry === undefined) {
      listener.retry = setTimeout(() => {
        listener.retry = undefined;
        if (this.listeners.get(socket.id) === listener) this.pump(listener);
      }, RETRY_MS);
      listener.retry.unref();
    }
  }
}
