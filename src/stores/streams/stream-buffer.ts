import type { MessageRole } from '../../../protocol/models.js';

/** One delta to buffer. */
export interface DeltaInput {
  sessionId: string;
  streamId: string;
  userId: string;
  role: MessageRole;
  index: number;
  delta: string;
  /** Node and socket that stream it (so a dead node's streams can be found). */
  nodeId: string;
  socketId: string;
}

/** An open stream's buffered text and owner. */
export interface StreamState {
  sessionId: string;
  streamId: string;
  userId: string;
  role: MessageRole;
  nodeId: string;
  socketId: string;
  text: string;
}

/** An open stream taken for a barge-in, with where each delta ends in its text. */
export interface InterruptedStream extends StreamState {
  /** UTF-8 byte length of the text after each delta, by index. */
  deltaEnds: number[];
}

/** Where an open stream is, for the sweeper. */
export interface OpenStream {
  sessionId: string;
  streamId: string;
  /** Time of the last delta (ms since the epoch). */
  lastDeltaAt: number;
}

/**
 * The text of open streams (partial transcripts, assistant token streams), kept until the
 * stream is closed by a final message or committed as an interrupted turn. Bounded in size
 * per stream and expiring on its own: a stream no delta reached for the buffer's TTL (an
 * hour unless configured) is forgotten, as if it had never been opened. Every node sees the
 * same streams (in process: the one node).
 */
export interface StreamBuffer {
  /**
   * Appends a delta in index order (from 0), whichever node it arrives on. Returns
   * `appended`, or `duplicate` for an index already seen (a resend; the text stays as it
   * was). Throws VALIDATION for a gap (details.expectedIndex), PAYLOAD_TOO_LARGE when the
   * text would pass the bound in UTF-8 bytes (details.limit; the bound itself fits),
   * FORBIDDEN when another user owns the stream (the user of its first delta), and CONFLICT
   * once the stream was interrupted: reason `stream_interrupted_storing` while its turn is
   * being stored, `stream_interrupted` with details.messageId once stored. A refused delta
   * changes nothing.
   */
  append(input: DeltaInput): Promise<'appended' | 'duplicate'>;
  /**
   * Takes an open stream for a barge-in, at once refusing every later delta of it (a resend
   * too); undefined when none is open. Two callers racing both get it whole (the message
   * store keeps one message of the turn).
   */
  interrupt(sessionId: string, streamId: string): Promise<InterruptedStream | undefined>;
  /**
   * After a barge-in stored its message: remembers it for an hour (later deltas name it) and
   * drops the buffer (`get`, `interrupt` and `idle` no longer find the stream).
   */
  interrupted(sessionId: string, streamId: string, messageId: string): Promise<void>;
  /** The message a barge-in stored for this stream, within the hour; undefined before it is stored. */
  interruptedBy(sessionId: string, streamId: string): Promise<string | undefined>;
  /**
   * The open stream: its owner, role, text so far, and the node and socket of its last
   * delta (a client that moves to another node takes the stream along). Undefined when none
   * is open.
   */
  get(sessionId: string, streamId: string): Promise<StreamState | undefined>;
  /** Drops an open stream (its final message is stored); none being open is not an error. */
  remove(sessionId: string, streamId: string): Promise<void>;
  /**
   * Open streams whose last delta is at least `idleMs` old, with its time, in no particular
   * order and possibly only a batch of them (the sweep asks again). An expired stream may
   * still be listed, with nothing left for `get`.
   */
  idle(idleMs: number): Promise<OpenStream[]>;
}
