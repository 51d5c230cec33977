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
 * per stream and expiring on its own.
 */
export interface StreamBuffer {
  /**
   * Appends a delta in index order. Returns `appended`, or `duplicate` for an index already
   * seen (a resend). Throws VALIDATION for a gap (details.expectedIndex), PAYLOAD_TOO_LARGE
   * past the size bound, FORBIDDEN when another user owns the stream, CONFLICT (with
   * details.messageId once stored) when the stream was interrupted.
   */
  append(input: DeltaInput): Promise<'appended' | 'duplicate'>;
  /**
   * Takes an open stream for a barge-in, at once refusing every later delta of it;
   * undefined when none is open. Two callers racing both get it (the message store keeps
   * one message of the turn).
   */
  interrupt(sessionId: string, streamId: string): Promise<InterruptedStream | undefined>;
  /** After a barge-in stored its message: remembers it for an hour (later deltas name it) and drops the buffer. */
  interrupted(sessionId: string, streamId: string, messageId: string): Promise<void>;
  /** The message a barge-in stored for this stream, within the hour. */
  interruptedBy(sessionId: string, streamId: string): Promise<string | undefined>;
  get(sessionId: string, streamId: string): Promise<StreamState | undefined>;
  remove(sessionId: string, streamId: string): Promise<void>;
  /** Open streams whose last delta is older than `idleMs`. */
  idle(idleMs: number): Promise<OpenStream[]>;
}
