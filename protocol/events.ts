import type { AckCallback, WireError } from './errors.js';
import type { Message, MessageRole, Session } from './models.js';
import type { Role } from './roles.js';
import type { ClientEventName, PayloadOf } from './schemas.js';

/** One user's connections to a session, across all nodes. */
export interface PresenceEntry {
  userId: string;
  role: Role;
  connections: number;
}

/** `data` of a successful ack, per event. */
export interface AckData {
  'sys:ping': { nodeId: string; serverTime: string; protocolVersion: number };
  'session:create': { session: Session };
  'session:join': { session: Session; messages: Message[]; hasMore: boolean; presence: PresenceEntry[] };
  'session:leave': Record<string, never>;
  'session:list': { sessions: Session[]; nextCursor: string | null };
  'session:update': { session: Session };
  /** What went with the session (protocol v3). */
  'session:delete': { sessionId: string; messages: number; audioObjects: number };
  /** The interrupted turn as stored (protocol v3). */
  'turn:interrupt': { message: Message };
  'message:send': { message: Message };
  'message:delta': Record<string, never>;
  'history:get': { messages: Message[]; hasMore: boolean };
  'audio:start': Record<string, never>;
  'audio:chunk': { received: number };
  'audio:end': { message: Message };
  'audio:url': { url: string; expiresAt: string };
  retrieve: RetrieveResult;
}

/** One retrieved chunk, best first. */
export interface RetrievedChunk {
  chunkId: string;
  documentId: string;
  content: string;
  score: number;
  metadata: Record<string, unknown>;
}

/** `retrieve` answer (PROTOCOL section 6). */
export interface RetrieveResult {
  chunks: RetrievedChunk[];
  entities: { id: string; name: string; type: string; distance: number; relevance: number }[];
  timings: { embedMs: number; vectorMs: number; graphMs: number; totalMs: number };
  /** Stores that were down: their part is empty. */
  degraded?: ('vector' | 'graph')[];
}

/** Events a client sends; every one takes a trailing ack callback. */
export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: PayloadOf<E>, ack?: AckCallback<AckData[E]>) => void;
};

/** A streaming fragment as relayed to the rest of the room. */
export interface DeltaEvent {
  sessionId: string;
  streamId: string;
  index: number;
  delta: string;
  role: MessageRole;
  userId: string;
}

/** What the server says to every socket right after its handshake. */
export interface HelloEvent {
  /** The version of the wire contract (`PROTOCOL_VERSION`). */
  protocolVersion: number;
  /** The node this socket is connected to. */
  nodeId: string;
}

/** Why the server ends a connection (`sys:disconnect`). */
export const disconnectReasons = ['draining', 'slow_consumer', 'disabled', 'role_changed', 'logged_out'] as const;
export type DisconnectReason = (typeof disconnectReasons)[number];

/**
 * Sent right before the server ends a connection. With `reconnect: true` only the transport
 * is closed, so a standard Socket.IO client reconnects by itself (to another node when
 * this one drains), after `retryAfterMs` when given; with `false` the session is over (the
 * user was disabled or logged out) and the client should not reconnect with this token.
 */
export interface DisconnectNotice {
  reason: DisconnectReason;
  reconnect: boolean;
  retryAfterMs?: number;
}

/** Events the server pushes to clients. */
export interface ServerToClientEvents {
  /** Right before the server ends the connection (protocol v2). */
  'sys:disconnect': (payload: DisconnectNotice) => void;
  /** Sent once, right after the handshake (protocol v2). */
  'sys:hello': (payload: HelloEvent) => void;
  /** A failure of an event that was sent without an ack callback. */
  error: (payload: { event: string; error: WireError }) => void;
  'message:new': (payload: { message: Message }) => void;
  'message:delta': (payload: DeltaEvent) => void;
  'session:updated': (payload: { session: Session }) => void;
  /** The session was deleted by its owner or an admin (protocol v3); it can no longer be joined. */
  'session:deleted': (payload: { sessionId: string }) => void;
  /** A barge-in stored the stream's turn (protocol v3): workers stop generating it. */
  'turn:interrupted': (payload: { sessionId: string; streamId: string; messageId: string }) => void;
  presence: (payload: { sessionId: string } & PresenceEntry) => void;
  /** Ingestion progress of one of the user's documents, to every socket of its owner (protocol v4). */
  'document:status': (payload: DocumentStatusEvent) => void;
}

/** A stage of a document's ingestion, as `document:status` tells it (protocol v4). */
export type DocumentStage = 'parsing' | 'embedding' | 'graph' | 'ready' | 'failed';

/** `document:status`: where the ingestion of a document is, pushed to its owner (protocol v4). */
export interface DocumentStatusEvent {
  documentId: string;
  status: 'processing' | 'ready' | 'failed';
  stage: DocumentStage;
  /** 0-100, never going back within one ingestion run (a retried run starts again). */
  percent: number;
  /** Why it failed (stage `failed` only). */
  reason?: string;
}

/** Messages between nodes through the adapter (none beyond the adapter's own). */
export interface InterServerEvents {}

/** What the server knows about an authenticated socket. */
export interface SocketData {
  userId: string;
  role: Role;
  /** The refresh-token family of the handshake's access token, if it names one. */
  family?: string;
  /** The client's address (behind a trusted proxy: from X-Forwarded-For). */
  ip: string;
}
