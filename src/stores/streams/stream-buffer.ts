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
   * past the size bound, FORBIDDEN when another user owns the stream.
   */
  append(input: DeltaInput): Promise<'appended' | 'duplicate'>;
  get(sessionId: string, streamId: string): Promise<StreamState | undefined>;
  remove(sessionId: string, streamId: string): Promise<void>;
  /** Open streams whose last delta is older than `idleMs`. */
  idle(idleMs: number): Promise<OpenStream[]>;
}
