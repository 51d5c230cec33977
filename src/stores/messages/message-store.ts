import type { ContentType, JsonObject, Message, MessageRole } from '../../../protocol/models.js';

/** One message to append. */
export interface AppendInput {
  sessionId: string;
  /**
   * The authenticated user who sends it (an interrupted turn: the stream's owner).
   * Idempotency keys are per sender: another sender's equal clientMsgId is a new message.
   */
  senderId: string;
  /** Idempotency key (1-64 characters); a resend by the same sender returns the original message. */
  clientMsgId: string;
  role: MessageRole;
  content: string;
  contentType: ContentType;
  metadata: JsonObject;
  tokensUsed?: number;
  processingTimeMs?: number;
}

/** The committed message, and whether it had been committed before (a resend). */
export interface AppendResult {
  message: Message;
  duplicate: boolean;
}

/** A page of messages in ascending seq order. */
export interface MessagePage {
  messages: Message[];
  hasMore: boolean;
}

/**
 * Durable, ordered, idempotent message history. `append` resolves only after the row is
 * committed; seqs are gap-free per session across every writer.
 */
export interface MessageStore {
  /**
   * Commits a message (through group commit). Throws AppError NOT_FOUND for an unknown
   * session, VALIDATION / PAYLOAD_TOO_LARGE for bad input (nothing written), UNAVAILABLE
   * when the database failed (nothing written; safe to retry with the same clientMsgId).
   */
  append(input: AppendInput): Promise<AppendResult>;
  /** The message this sender committed under this idempotency key, if any. */
  getByClientMsgId(sessionId: string, senderId: string, clientMsgId: string): Promise<Message | undefined>;
  /** The message with this id, if any. */
  getById(id: string): Promise<Message | undefined>;
  /** The message that closed a stream (a token stream's final or interrupted turn, or an audio stream's message; any sender), the newest. */
  getByStream(sessionId: string, streamId: string): Promise<Message | undefined>;
  /**
   * Sets the transcript of an audio message of this session as its content; the message
   * as stored then, or undefined when the session has no audio message with that id.
   * VALIDATION / PAYLOAD_TOO_LARGE as for `append`'s content.
   */
  setTranscript(sessionId: string, messageId: string, transcript: string): Promise<Message | undefined>;
  /** Which of these object keys an audio message refers to (keys under `audio/<sessionId>/`). */
  referencedAudioKeys(keys: readonly string[]): Promise<Set<string>>;
  /** Up to `limit` messages with seq < beforeSeq (or the newest), ascending; hasMore if older exist. */
  pageBefore(sessionId: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage>;
  /** Up to `limit` messages with seq > sinceSeq, ascending; hasMore if newer exist. */
  since(sessionId: string, sinceSeq: number, limit: number): Promise<MessagePage>;
  /** Commits everything queued, then refuses new appends. */
  close(): Promise<void>;
}
