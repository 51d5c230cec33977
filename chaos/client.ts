import { setTimeout as sleep } from 'node:timers/promises';
import { io, type Socket } from 'socket.io-client';

/** What a good client knows about one message it sent. */
interface Outgoing {
  clientMsgId: string;
  content: string;
  /** The stream this message closes (its final text). */
  streamId?: string;
  /** A voice utterance: sent by `speak`, not by `transmit`. */
  audio?: boolean;
  firstSentAt: number;
  lastSentAt: number;
  /** Times it went out (for an utterance: attempts started). */
  attempts: number;
  /** The last failure answered to it or seen while waiting, for the report of what was never acked. */
  lastError?: string;
  acked?: { id: string; seq: number };
}

/** A message still unacknowledged when the round ended, and what happened to it. */
export interface NeverAcked {
  clientMsgId: string;
  kind: 'text' | 'stream end' | 'utterance';
  attempts: number;
  /** The last error it met ('-' when every send simply went unanswered). */
  lastError: string;
  /** Seconds from its first send to the end of the round. */
  ageSeconds: number;
}

type Ack = { ok: true; data: { message: { id: string; seq: number } } } | { ok: false; error: { code: string } };
type JoinAck =
  | { ok: true; data: { messages: Array<{ seq: number }>; hasMore: boolean } }
  | { ok: false; error: { code: string } };

const ACK_TIMEOUT_MS = 5_000;
const RESEND_AFTER_MS = 2_000;
/** Chunks of each utterance, and their size (20 KiB an utterance). */
const AUDIO_CHUNKS = 5;
const AUDIO_CHUNK_BYTES = 4_096;
/** Deltas of each streamed turn. */
const STREAM_DELTAS = 10;

/**
 * A harness client's socket: WebSocket only, one connection of its own, no reconnection of
 * Socket.IO's (the harness's clients reconnect themselves, to the next node).
 */
export function harnessSocket(url: string, token: string): Socket {
  return io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true, timeout: 5_000 });
}

/**
 * A client that behaves as the protocol asks a good client to: on any disconnect it
 * reconnects to another node, rejoins its session with `sinceSeq` = the highest seq up to
 * which it holds every message, and resends every unacknowledged message with the same
 * `clientMsgId` until it is acked. Told by a draining node to move (`sys:disconnect` with
 * `reconnect`), it sends nothing new there, waits for what it is owed, and sends the held
 * events after reconnecting. It records what it was told, for the checks.
 */
export class GoodClient {
  private socket: Socket | undefined;
  private nodeIndex: number;
  private joined = false;
  /** Told to move: nothing new goes out on this connection. */
  private moving = false;
  private stopped = false;
  private next = 0;
  readonly outgoing = new Map<string, Outgoing>();
  /** Every seq this client holds (join answers, message:new, its own acks). */
  readonly held = new Set<number>();
  /** Seqs that arrived out of order on one connection (must stay 0). */
  orderViolations = 0;
  /** Errors answered to its events, by code. */
  readonly errors = new Map<string, number>();
  reconnects = 0;
  lastAckAt = 0;
  private lastOnConnection = 0;
  /** The stream this client is sending deltas of, if it streams. */
  private stream: { id: string; words: string[]; acked: number; sentUpTo: number } | undefined;
  private streams = 0;
  /** Ids of every stream this client opened. */
  readonly streamIds: string[] = [];
  /**
   * Streams left open when the connection dropped, by a client that gives them up (an
   * assistant worker that dies with its node): the server must commit each once, as
   * interrupted.
   */
  readonly abandoned: string[] = [];
  /** Whether this client gives up its open stream when its connection drops. */
  abandonsStreams = false;
  /** Set when the load ends: the open stream is finished, no new one is opened. */
  openNoMoreStreams = false;
  /** Connections made so far (the live streams heard are kept by the connection that heard them). */
  private connections = 0;
  /** Other members' audio streams heard live and not ended yet, with the frames heard. */
  private readonly liveOpen = new Map<string, { connection: number; lastIndex: number; frames: Set<number> }>();
  private readonly liveEnded = new Set<string>();
  /** Live frames heard twice, out of order, or after their stream's end (each must stay 0). */
  readonly liveFaults = { twice: 0, outOfOrder: 0, afterEnd: 0 };
  /** Live streams heard at all. */
  liveStreams = 0;

  constructor(
    readonly name: string,
    private readonly token: string,
    readonly sessionId: string,
    private readonly urls: () => string[],
    firstNode: number,
  ) {
    this.nodeIndex = firstNode;
  }

  /** Highest seq up to which every message is held. */
  get contiguous(): number {
    let seq = 0;
    while (this.held.has(seq + 1)) seq++;
    return seq;
  }

  /** Whether a stream is open (its final message not yet made). */
  get streaming(): boolean {
    return this.stream !== undefined;
  }

  get unacked(): number {
    let n = 0;
    for (const o of this.outgoing.values()) if (o.acked === undefined) n++;
    return n;
  }

  /** The live stream heard under `streamId`, begun when first heard (a listener may join mid-stream). */
  private liveStream(streamId: string, connection: number): { lastIndex: number; frames: Set<number> } {
    let stream = this.liveOpen.get(streamId);
    if (stream === undefined) {
      stream = { connection, lastIndex: -1, frames: new Set() };
      this.liveOpen.set(streamId, stream);
      if (!this.liveEnded.has(streamId)) this.liveStreams++;
    }
    stream.connection = connection;
    return stream;
  }

  /**
   * Live streams heard on the current connection that never ended (a stream heard on an
   * earlier connection may have ended while this client was away: it cannot tell).
   */
  get liveUnended(): number {
    let n = 0;
    for (const stream of this.liveOpen.values()) if (stream.connection === this.connections) n++;
    return n;
  }

  /** What this client sent and never got acknowledged, with why as far as it saw. */
  neverAcked(now = Date.now()): NeverAcked[] {
    return [...this.outgoing.values()]
      .filter((o) => o.acked === undefined)
      .map((o) => ({
        clientMsgId: o.clientMsgId,
        kind: o.audio === true ? 'utterance' : o.streamId !== undefined ? 'stream end' : 'text',
        attempts: o.attempts,
        lastError: o.lastError ?? '-',
        ageSeconds: Math.round((now - o.firstSentAt) / 100) / 10,
      }));
  }

  /** Joined to its session on a connection that is not being moved. */
  get inSession(): boolean {
    return this.joined && !this.moving;
  }

  connect(): void {
    if (this.stopped) return;
    const urls = this.urls();
    const socket = harnessSocket(urls[this.nodeIndex % urls.length] as string, this.token);
    this.socket = socket;
    this.joined = false;
    this.moving = false;
    this.lastOnConnection = 0;
    socket.on('sys:disconnect', ({ reconnect }: { reconnect: boolean }) => {
      if (this.socket === socket && reconnect) this.moving = true;
    });
    socket.on('connect', () => void this.join(socket));
    const connection = ++this.connections;
    socket.on('audio:started', ({ sessionId, streamId }: { sessionId: string; streamId: string }) => {
      if (sessionId === this.sessionId) this.liveStream(streamId, connection);
    });
    socket.on(
      'audio:frame',
      ({ sessionId, streamId, index }: { sessionId: string; streamId: string; index: number }) => {
        if (sessionId !== this.sessionId) return;
        if (this.liveEnded.has(streamId)) this.liveFaults.afterEnd++;
        const stream = this.liveStream(streamId, connection);
        if (stream.frames.has(index)) this.liveFaults.twice++;
        else if (index < stream.lastIndex) this.liveFaults.outOfOrder++;
        stream.frames.add(index);
        stream.lastIndex = Math.max(stream.lastIndex, index);
      },
    );
    socket.on('audio:ended', ({ sessionId, streamId }: { sessionId: string; streamId: string }) => {
      if (sessionId !== this.sessionId) return;
      this.liveOpen.delete(streamId);
      this.liveEnded.add(streamId);
    });
    socket.on('message:new', ({ message }: { message: { sessionId: string; seq: number } }) => {
      if (message.sessionId !== this.sessionId) return;
      this.receive(message.seq);
    });
    const retry = (): void => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.joined = false;
      if (this.abandonsStreams && this.stream !== undefined && this.stream.acked > 0) {
        this.abandoned.push(this.stream.id);
        this.stream = undefined;
      }
      socket.removeAllListeners();
      socket.close();
      if (this.stopped) return;
      this.reconnects++;
      this.nodeIndex++;
      setTimeout(() => this.connect(), 100 + Math.random() * 200);
    };
    socket.on('disconnect', retry);
    socket.on('connect_error', retry);
  }

  private receive(seq: number): void {
    if (seq <= this.lastOnConnection) this.orderViolations++;
    this.lastOnConnection = seq;
    this.held.add(seq);
  }

  private async join(socket: Socket): Promise<void> {
    const sinceSeq = this.contiguous;
    let answer: JoinAck;
    try {
      answer = (await socket
        .timeout(ACK_TIMEOUT_MS)
        .emitWithAck('session:join', { sessionId: this.sessionId, sinceSeq, liveAudio: true })) as JoinAck;
    } catch (error) {
      // No answer to the join: counted (a node too slow to answer also leaves the client's
      // open stream quiet, which the server commits as interrupted after the grace period).
      if (this.socket === socket) this.count(lostWithConnection(error) ? 'join:DISCONNECTED' : 'join:ACK_TIMEOUT');
      socket.disconnect();
      return;
    }
    if (this.socket !== socket) return;
    if (!answer.ok) {
      this.count(answer.error.code);
      socket.disconnect();
      return;
    }
    this.lastOnConnection = sinceSeq;
    for (const message of answer.data.messages) this.receive(message.seq);
    this.joined = true;
    // Everything not acknowledged yet goes again, with its clientMsgId.
    for (const o of this.outgoing.values()) if (o.acked === undefined && o.audio !== true) this.transmit(o);
    // An open stream continues here from its first unacknowledged delta.
    if (this.stream !== undefined) this.stream.sentUpTo = this.stream.acked;
  }

  /**
   * Streams turns: each call sends the next delta of the current stream (opening one when
   * none is open); after `STREAM_DELTAS` deltas the final text goes as a message carrying
   * `metadata.streamId`, resent like any other until acked.
   */
  streamStep(): void {
    if (this.stopped || !this.joined || this.moving || this.socket === undefined) return;
    if (this.stream === undefined) {
      if (this.openNoMoreStreams) return;
      const id = `${this.name}-stream-${this.streams++}`;
      this.streamIds.push(id);
      this.stream = { id, words: Array.from({ length: STREAM_DELTAS }, (_, i) => `w${i} `), acked: 0, sentUpTo: 0 };
    }
    const stream = this.stream;
    if (stream.sentUpTo >= stream.words.length) {
      if (stream.acked < stream.words.length) return; // waiting for the last acks
      this.finishStream(stream);
      return;
    }
    const index = stream.sentUpTo++;
    const socket = this.socket;
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('message:delta', {
        sessionId: this.sessionId,
        streamId: stream.id,
        index,
        delta: stream.words[index],
      })
      .then(
        (answer: { ok: boolean; error?: { code: string } }) => {
          if (this.stream !== stream) return;
          if (answer.ok) {
            stream.acked = Math.max(stream.acked, index + 1);
            return;
          }
          this.count(`delta:${answer.error?.code ?? 'unknown'}`);
          // The server no longer has the stream's text (Redis emptied, or it was committed
          // as interrupted): the final message carries the whole text anyway.
          if (answer.error?.code === 'VALIDATION' || answer.error?.code === 'CONFLICT') this.finishStream(stream);
          else stream.sentUpTo = Math.min(stream.sentUpTo, stream.acked);
        },
        () => {
          if (this.stream === stream) stream.sentUpTo = Math.min(stream.sentUpTo, stream.acked);
        },
      );
  }

  private finishStream(stream: { id: string; words: string[] }): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    const o: Outgoing = {
      clientMsgId: stream.id,
      content: stream.words.join(''),
      streamId: stream.id,
      firstSentAt: Date.now(),
      lastSentAt: 0,
      attempts: 0,
    };
    this.outgoing.set(o.clientMsgId, o);
    if (this.joined && !this.moving) this.transmit(o);
  }

  private count(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  /** Sends a new message (or queues it until the client is joined again). */
  send(): void {
    if (this.stopped) return;
    const clientMsgId = `${this.name}-${this.next++}`;
    const o: Outgoing = {
      clientMsgId,
      content: `chaos ${clientMsgId}`,
      firstSentAt: Date.now(),
      lastSentAt: 0,
      attempts: 0,
    };
    this.outgoing.set(clientMsgId, o);
    if (this.joined && !this.moving) this.transmit(o);
  }

  /** Resends what has waited too long for its ack (called periodically). */
  resendStale(): void {
    if (!this.joined || this.moving) return;
    const now = Date.now();
    for (const o of this.outgoing.values())
      if (o.acked === undefined && o.audio !== true && now - o.lastSentAt > RESEND_AFTER_MS) this.transmit(o);
  }

  private transmit(o: Outgoing): void {
    const socket = this.socket;
    if (socket === undefined) return;
    o.lastSentAt = Date.now();
    o.attempts++;
    socket
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck('message:send', {
        sessionId: this.sessionId,
        clientMsgId: o.clientMsgId,
        content: o.content,
        ...(o.streamId === undefined ? {} : { metadata: { streamId: o.streamId } }),
      })
      .then(
        (answer: Ack) => {
          if (!answer.ok) {
            this.count(answer.error.code);
            if (o.acked === undefined) o.lastError = answer.error.code;
            return;
          }
          const { id, seq } = answer.data.message;
          if (o.acked !== undefined && (o.acked.id !== id || o.acked.seq !== seq)) this.count('ACK_CHANGED');
          o.acked = { id, seq };
          this.held.add(seq);
          this.lastAckAt = Date.now();
        },
        (error: unknown) => {
          const code = lostWithConnection(error) ? 'DISCONNECTED' : 'ACK_TIMEOUT';
          this.count(code);
          if (o.acked === undefined) o.lastError = code;
        },
      );
  }

  /**
   * Speaks utterances until `quiet` is set: each is `audio:start`, five 4 KiB chunks and
   * `audio:end` with the utterance's clientMsgId. An end answered UNAVAILABLE (storage
   * down) is retried as it is: the server keeps the stream. Anything else that fails (a
   * dropped connection, a stream the server discarded) starts the utterance again under a
   * new streamId with the same clientMsgId, until `audio:end` is acked.
   */
  async speak(pauseMs: number): Promise<void> {
    for (let n = 0; !this.stopped && !this.quiet; n++) {
      const o: Outgoing = {
        clientMsgId: `${this.name}-audio-${n}`,
        content: '',
        audio: true,
        firstSentAt: Date.now(),
        lastSentAt: 0,
        attempts: 0,
      };
      this.outgoing.set(o.clientMsgId, o);
      for (let attempt = 0; o.acked === undefined && !this.stopped; attempt++) {
        const socket = this.socket;
        if (!this.joined || this.moving || socket === undefined) {
          await sleep(200);
          continue;
        }
        const streamId = `${o.clientMsgId}-try${attempt}`;
        o.lastSentAt = Date.now();
        o.attempts++;
        try {
          await this.call(socket, 'audio:start', { sessionId: this.sessionId, streamId, mimeType: 'audio/webm' });
          for (let index = 0; index < AUDIO_CHUNKS; index++) {
            await this.call(socket, 'audio:chunk', { streamId, index, data: Buffer.alloc(AUDIO_CHUNK_BYTES, index) });
          }
          // Storage down answers UNAVAILABLE and keeps the stream: the same end is retried.
          let message: { id: string; seq: number } | undefined;
          while (message === undefined) {
            try {
              ({ message } = (await this.call(socket, 'audio:end', { streamId, clientMsgId: o.clientMsgId })) as {
                message: { id: string; seq: number };
              });
            } catch (error) {
              const code = error instanceof Error ? error.message : '';
              // Storage down (UNAVAILABLE), or too many retries (RATE_LIMITED): wait, end again.
              if ((code !== 'UNAVAILABLE' && code !== 'RATE_LIMITED') || this.socket !== socket || this.stopped)
                throw error;
              this.count(`audio:end:${code}`);
              await sleep(code === 'RATE_LIMITED' ? 1_000 : 300);
            }
          }
          o.acked = { id: message.id, seq: message.seq };
          this.held.add(message.seq);
          this.lastAckAt = Date.now();
        } catch (error) {
          // Told to move mid-utterance: it starts again on the next node, which is no error.
          if (!(error instanceof Moved)) {
            const code = error instanceof Error ? error.message : 'failed';
            this.count(`audio:${code}`);
            o.lastError = `audio:${code}`;
          }
          // The attempt is given up: on a connection that is still up, its stream is ended
          // with audio:abort, so that it does not hold one of the socket's audio-stream slots
          // until AUDIO_STREAM_TIMEOUT_MS (the next attempt would be refused RATE_LIMITED).
          if (this.socket === socket && socket.connected) await this.abort(socket, streamId);
          await sleep(300);
        }
      }
      await sleep(pauseMs);
    }
  }

  /** Set when the load ends: the utterance in progress finishes, no new one starts. */
  quiet = false;

  private async call(socket: Socket, event: string, payload: unknown): Promise<unknown> {
    if (this.moving || this.socket !== socket) throw new Moved();
    let answer: { ok: boolean; data?: unknown; error?: { code: string } };
    try {
      answer = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload)) as typeof answer;
    } catch (error) {
      throw new Error(lostWithConnection(error) ? 'DISCONNECTED' : 'ACK_TIMEOUT');
    }
    if (!answer.ok) throw new Error(answer.error?.code ?? 'unknown');
    return answer.data;
  }

  /** Ends a given-up stream on its socket (no answer, or an error, changes nothing: the socket's end frees it too). */
  private async abort(socket: Socket, streamId: string): Promise<void> {
    try {
      const answer = (await socket.timeout(ACK_TIMEOUT_MS).emitWithAck('audio:abort', { streamId })) as {
        ok: boolean;
        error?: { code: string };
      };
      if (!answer.ok) this.count(`audio:abort:${answer.error?.code ?? 'unknown'}`);
    } catch (error) {
      this.count(`audio:abort:${lostWithConnection(error) ? 'DISCONNECTED' : 'ACK_TIMEOUT'}`);
    }
  }

  stop(): void {
    this.stopped = true;
    const socket = this.socket;
    this.socket = undefined;
    socket?.removeAllListeners();
    socket?.close();
  }
}

/** The utterance in progress stops because the client was told to move to another node. */
class Moved extends Error {
  constructor() {
    super('MOVED');
  }
}

/** Whether an ack was given up because the connection closed (socket.io-client's words), not after waiting. */
function lostWithConnection(error: unknown): boolean {
  return error instanceof Error && error.message === 'socket has been disconnected';
}
