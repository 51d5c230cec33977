/**
 * The version of the wire contract this server speaks (docs/protocol.md lists what each
 * version changed). Sent in `sys:hello` right after the handshake and in every `sys:ping` ack.
 */
export const PROTOCOL_VERSION = 4;

/** Roles a message can have (PROTOCOL section 4). */
export const messageRoles = ['user', 'assistant', 'system', 'tool'] as const;
export type MessageRole = (typeof messageRoles)[number];

/** Kinds of message content. */
export const contentTypes = ['text', 'transcript', 'audio'] as const;
export type ContentType = (typeof contentTypes)[number];

/** Content types a client may send with `message:send`: audio messages are made only by the server's audio path. */
export const sendableContentTypes = ['text', 'transcript'] as const;

/**
 * Metadata keys only the server writes (audio objects, interrupted turns); `message:send`
 * refuses them with VALIDATION. `streamId` stays client-settable.
 */
export const serverMetadataKeys = ['objectKey', 'mimeType', 'bytes', 'sha256', 'sampleRate', 'interrupted', 'interruptedBy', 'heard'] as const;

export const sessionStatuses = ['active', 'archived'] as const;
export type SessionStatus = (typeof sessionStatuses)[number];

/** A JSON object as carried in `context` and `metadata`. */
export type JsonObject = { [key: string]: unknown };

/** A conversation (PROTOCOL section 3). Times are ISO-8601 strings. */
export interface Session {
  id: string;
  userId: string;
  title: string;
  status: SessionStatus;
  context: JsonObject;
  metadata: JsonObject;
  /** Seq of the newest committed message; 0 when empty. */
  lastSeq: number;
  createdAt: string;
  updatedAt: string;
}

/** A committed message (PROTOCOL section 4). */
export interface Message {
  id: string;
  sessionId: string;
  /** 1, 2, 3, ... per session, gap-free across all nodes. */
  seq: number;
  role: MessageRole;
  content: string;
  contentType: ContentType;
  metadata: JsonObject;
  clientMsgId: string | null;
  /**
   * The user who sent it (for an interrupted turn, the stream's owner); null for messages
   * stored before protocol v2. Idempotency keys are per (session, sender).
   */
  senderId: string | null;
  createdAt: string;
  tokensUsed?: number;
  processingTimeMs?: number;
}

/** The relationship types between entities (the only ones that ever reach query text). */
export const relationTypes = ['RELATED_TO', 'CO_OCCURS'] as const;
/** Deepest graph expansion (`related`, `retrieve`'s graphDepth). */
export const MAX_GRAPH_DEPTH = 3;
/** Longest shortest path searched for. */
export const MAX_PATH_HOPS = 8;
