import { z } from 'zod';
import { type AckCallback, wireErrorModel } from './errors.js';
import { agentStatusModel, messageModel, messageRoles, sessionModel } from './models.js';
import { type Role, roles, type TokenKind } from './roles.js';
import type { ClientEventName, PayloadOf } from './schemas.js';

const empty = z.object({}).strict();

/** One user's connections to a session, across all nodes. */
export const presenceEntryModel = z
  .object({ userId: z.string(), role: z.enum(roles), connections: z.number().int().min(0) })
  .meta({ id: 'PresenceEntry' });
export type PresenceEntry = z.output<typeof presenceEntryModel>;

/** One retrieved chunk, best first. */
export const retrievedChunkModel = z.object({
  chunkId: z.string(),
  documentId: z.string(),
  content: z.string(),
  score: z.number(),
  metadata: z.record(z.string(), z.unknown()),
});
export type RetrievedChunk = z.output<typeof retrievedChunkModel>;

/** `retrieve` answer (PROTOCOL section 6). */
export const retrieveResultModel = z
  .object({
    chunks: z.array(retrievedChunkModel),
    entities: z.array(
      z.object({ id: z.string(), name: z.string(), type: z.string(), distance: z.number(), relevance: z.number() }),
    ),
    timings: z.object({ embedMs: z.number(), vectorMs: z.number(), graphMs: z.number(), totalMs: z.number() }),
    degraded: z
      .array(z.enum(['vector', 'graph']))
      .optional()
      .describe('Stores that were down: their part is empty.'),
  })
  .meta({ id: 'RetrieveResult' });
export type RetrieveResult = z.output<typeof retrieveResultModel>;

const messagePage = z.object({ messages: z.array(messageModel), hasMore: z.boolean() });

/** `data` of a successful ack, per client event. */
export const ackDataSchemas = {
  'sys:ping': z.object({ nodeId: z.string(), serverTime: z.string(), protocolVersion: z.number().int() }),
  'session:create': z.object({ session: sessionModel }),
  'session:join': z.object({
    session: sessionModel,
    messages: z.array(messageModel),
    hasMore: z.boolean(),
    presence: z.array(presenceEntryModel),
  }),
  'session:leave': empty,
  'session:list': z.object({ sessions: z.array(sessionModel), nextCursor: z.string().nullable() }),
  'session:update': z.object({ session: sessionModel }),
  'session:delete': z
    .object({ sessionId: z.string(), messages: z.number().int(), audioObjects: z.number().int() })
    .describe('What went with the session (protocol v3).'),
  'turn:interrupt': z.object({ message: messageModel }).describe('The interrupted turn as stored (protocol v3).'),
  'message:send': z.object({ message: messageModel }),
  'message:delta': empty,
  'history:get': messagePage,
  'audio:start': empty,
  'audio:chunk': z.object({ received: z.number().int() }),
  'audio:end': z.object({ message: messageModel }),
  'audio:abort': empty.describe('The stream is discarded, or was not open (protocol v6).'),
  'audio:url': z.object({ url: z.string(), expiresAt: z.string() }),
  retrieve: retrieveResultModel,
  'message:transcript': z
    .object({ message: messageModel })
    .describe('The audio message with its transcript as content (protocol v7).'),
  'agent:register': z
    .object({ workerId: z.string().describe('This registration: agent:status names it.') })
    .describe('The socket serves the agent until it disconnects (protocol v7).'),
  'agent:release': empty.describe('The session went back to dispatch, or this worker did not have it (protocol v7).'),
} as const satisfies Record<ClientEventName, z.ZodType>;

/** `data` of a successful ack, per event. */
export type AckData = { [E in ClientEventName]: z.output<(typeof ackDataSchemas)[E]> };

/** Events a client sends; every one takes a trailing ack callback. */
export type ClientToServerEvents = {
  [E in ClientEventName]: (payload: PayloadOf<E>, ack?: AckCallback<AckData[E]>) => void;
};

/** A streaming fragment as relayed to the rest of the room. */
export const deltaEventModel = z.object({
  sessionId: z.string(),
  streamId: z.string(),
  index: z.number().int().min(0),
  delta: z.string(),
  role: z.enum(messageRoles),
  userId: z.string(),
});
export type DeltaEvent = z.output<typeof deltaEventModel>;

/** What the server says to every socket right after its handshake. */
export const helloEventModel = z.object({
  protocolVersion: z.number().int().describe('The version of the wire contract (`PROTOCOL_VERSION`).'),
  nodeId: z.string().describe('The node this socket is connected to.'),
});
export type HelloEvent = z.output<typeof helloEventModel>;

/** Why the server ends a connection (`sys:disconnect`). */
export const disconnectReasons = [
  'draining',
  'slow_consumer',
  'disabled',
  'role_changed',
  'logged_out',
  'token_expired',
] as const;
export type DisconnectReason = (typeof disconnectReasons)[number];

/**
 * Sent right before the server ends a connection. With `reconnect: true` only the transport
 * is closed, so a standard Socket.IO client reconnects by itself (to another node when
 * this one drains), after `retryAfterMs` when given; with `false` the session is over (the
 * user was disabled or logged out) and the client should not reconnect with this token.
 * `token_expired` (v5): the access token the socket was opened with expired; reconnect
 * with a fresh one (a socket cannot change its token in place).
 */
export const disconnectNoticeModel = z.object({
  reason: z.enum(disconnectReasons),
  reconnect: z.boolean(),
  retryAfterMs: z.number().int().optional(),
});
export type DisconnectNotice = z.output<typeof disconnectNoticeModel>;

/** The stages of a document's ingestion, as `document:status` tells them (protocol v4). */
export const documentStages = ['parsing', 'embedding', 'graph', 'ready', 'failed'] as const;
export type DocumentStage = (typeof documentStages)[number];

/**
 * Why a document failed to ingest, as its owner is told (`document:status` `reason`, HTTP
 * `statusReason`): one of these sentences, by the step that failed, never a store's or a
 * driver's own error, which goes to the logs (protocol v5).
 */
export const documentFailureReasons = {
  /** The parser refused the file: damaged, of another type than it claims, or without text. */
  unreadable: 'the file could not be read as a document of its type, or it holds no text',
  /** Parsing ran out of time or memory, or its worker died. */
  unprocessable: 'the file could not be processed: it may be damaged, too large or too complex',
  /** Reading the file from object storage, or storing its chunks, failed. */
  storage: 'the document could not be stored; upload it again later',
  /** Embedding the chunks or writing them to the vector index failed. */
  search_index: 'the document could not be indexed for search; upload it again later',
  /** Writing its entities to the knowledge graph failed. */
  knowledge_graph: 'the knowledge graph could not be updated with the document; upload it again later',
  /** Anything else (and any reason stored before v5). */
  failed: 'the document could not be processed; upload it again later',
} as const;
/** Which step of an ingestion failed. */
export type DocumentFailure = keyof typeof documentFailureReasons;
/** What its owner is told about it. */
export type DocumentFailureReason = (typeof documentFailureReasons)[DocumentFailure];
/** The sentences of `documentFailureReasons`, as a schema enumerates them. */
export const documentFailureMessages = Object.values(documentFailureReasons) as [
  DocumentFailureReason,
  ...DocumentFailureReason[],
];

/** `document:status`: where the ingestion of a document is, pushed to its owner (protocol v4). */
export const documentStatusEventModel = z.object({
  documentId: z.string(),
  status: z.enum(['processing', 'ready', 'failed']),
  stage: z.enum(documentStages),
  percent: z
    .number()
    .min(0)
    .max(100)
    .describe('0-100, never going back within one ingestion run (a retried run starts again).'),
  reason: z
    .enum(documentFailureMessages)
    .optional()
    .describe('Why it failed (stage `failed` only): one of a fixed set of sentences (v5).'),
});
export type DocumentStatusEvent = z.output<typeof documentStatusEventModel>;

/** Why a live audio stream ended without a stored message of its own (`audio:ended` `reason`, protocol v6). */
export const audioDiscardReasons = ['timeout', 'socket_gone', 'too_large', 'aborted', 'interrupted'] as const;
export type AudioDiscardReason = (typeof audioDiscardReasons)[number];

/** `audio:started`: another socket opened an audio stream in a session joined with `liveAudio` (protocol v6). */
export const audioStartedEventModel = z.object({
  sessionId: z.string(),
  streamId: z.string().describe('Unique among the open audio streams of the session: frames are keyed by it.'),
  senderId: z.string().describe('The user (or service) who streams it.'),
  role: z.enum(['user', 'assistant']).describe("'assistant' for a service's speech."),
  mimeType: z.string(),
  sampleRate: z.number().int().optional(),
});
export type AudioStartedEvent = z.output<typeof audioStartedEventModel>;

/** `audio:frame`: the bytes of one accepted `audio:chunk`, in index order, at most once (protocol v6). */
export const audioFrameEventModel = z.object({
  sessionId: z.string(),
  streamId: z.string(),
  index: z.number().int().min(0),
  data: z
    .custom<Uint8Array | ArrayBuffer>(
      (value) => value instanceof Uint8Array || value instanceof ArrayBuffer,
      'expected binary data',
    )
    .describe('binary (a Buffer in Node.js, an ArrayBuffer in browsers): the chunk as sent'),
  dropped: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Frames of this stream dropped for this socket since its previous frame: it did not read fast enough.'),
});
export type AudioFrameEvent = z.output<typeof audioFrameEventModel>;

/** `audio:ended`: a live audio stream is over, stored (`messageId`) or discarded (protocol v6). */
export const audioEndedEventModel = z.object({
  sessionId: z.string(),
  streamId: z.string(),
  messageId: z
    .string()
    .optional()
    .describe('The message that stores the stream (and, with reason interrupted, the turn a barge-in stored).'),
  discarded: z.literal(true).optional().describe('The stream ended without being stored as sent.'),
  reason: z.enum(audioDiscardReasons).optional().describe('Why it was discarded.'),
  dropped: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe('Frames of this stream dropped for this socket after its last frame.'),
});
export type AudioEndedEvent = z.output<typeof audioEndedEventModel>;

/** Why a worker no longer has a session it was dispatched (`agent:revoked`, protocol v7). */
export const agentRevokeReasons = ['archived', 'deleted', 'lease_lost'] as const;
export type AgentRevokeReason = (typeof agentRevokeReasons)[number];

/** Payloads of the events the server pushes to clients. */
export const pushSchemas = {
  'sys:disconnect': disconnectNoticeModel.describe('Right before the server ends the connection (protocol v2).'),
  'sys:hello': helloEventModel.describe('Sent once, right after the handshake (protocol v2).'),
  error: z
    .object({ event: z.string(), error: wireErrorModel })
    .describe('A failure of an event that was sent without an ack callback.'),
  'message:new': z.object({ message: messageModel }).describe('A message committed to a joined session.'),
  'message:delta': deltaEventModel.describe('A streaming fragment from another member of the room.'),
  'session:updated': z.object({ session: sessionModel }),
  'session:deleted': z
    .object({ sessionId: z.string() })
    .describe('The session was deleted by its owner or an admin (protocol v3); it can no longer be joined.'),
  'turn:interrupted': z
    .object({ sessionId: z.string(), streamId: z.string(), messageId: z.string() })
    .describe("A barge-in stored the stream's turn (protocol v3): workers stop generating it."),
  presence: presenceEntryModel
    .extend({ sessionId: z.string() })
    .describe('A member joined or left (connections 0) a session.'),
  'audio:started': audioStartedEventModel.describe(
    'Another socket opened an audio stream in a session this socket joined with liveAudio (protocol v6).',
  ),
  'audio:frame': audioFrameEventModel.describe('One chunk of a live audio stream (protocol v6).'),
  'audio:ended': audioEndedEventModel.describe('A live audio stream was stored or discarded (protocol v6).'),
  'message:transcript': z
    .object({ sessionId: z.string(), messageId: z.string(), transcript: z.string() })
    .describe("An audio message's transcript was set (protocol v7): history gives it as the message content."),
  'agent:dispatch': z
    .object({
      sessionId: z.string(),
      agent: z.string(),
      epoch: z
        .number()
        .int()
        .min(1)
        .describe('Grows with every assignment of the session: a later dispatch of it supersedes this one.'),
    })
    .describe('To one registered worker only: the session is yours; join it as a service does (protocol v7).'),
  'agent:status': z
    .object({ sessionId: z.string(), agent: z.string() })
    .extend(agentStatusModel.shape)
    .describe("To the session's members: whether a worker of its agent has it (protocol v7)."),
  'agent:revoked': z
    .object({ sessionId: z.string(), agent: z.string(), reason: z.enum(agentRevokeReasons) })
    .describe(
      'To a worker: the session it was dispatched is no longer its own (archived, deleted, or its lease was lost); stop answering it (protocol v7).',
    ),
  'document:status': documentStatusEventModel.describe(
    "Ingestion progress of one of the user's documents, to every socket of its owner (protocol v4).",
  ),
} as const;

export type ServerPushName = keyof typeof pushSchemas;
export type PushOf<E extends ServerPushName> = z.output<(typeof pushSchemas)[E]>;

/** Events the server pushes to clients. */
export type ServerToClientEvents = { [E in ServerPushName]: (payload: PushOf<E>) => void };

/** Messages between nodes through the adapter, beyond its own. */
export type InterServerEvents = {
  /** One node asks every other for its part of the admin's cluster view (`GET /v1/admin/cluster`). */
  'vh:cluster-view': (ack: (report: unknown) => void) => void;
};

/** What the server knows about an authenticated socket. */
export interface SocketData {
  userId: string;
  role: Role;
  /** The refresh-token family (or API key) of the handshake's access token, if it names one. */
  family?: string;
  /** What the handshake's access token was issued for: a sign-in or an API key (`service` only). */
  kind: TokenKind;
  /** When the handshake's access token expires (ms since the epoch): the socket is ended then. */
  tokenExpiresAt: number;
  /** The client's address (behind a trusted proxy: from X-Forwarded-For). */
  ip: string;
}
