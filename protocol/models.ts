import { z } from 'zod';

/**
 * The version of the wire contract this server speaks (docs/protocol.md lists what each
 * version changed). Sent in `sys:hello` right after the handshake and in every `sys:ping` ack.
 */
export const PROTOCOL_VERSION = 7;

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
export const serverMetadataKeys = [
  'objectKey',
  'mimeType',
  'bytes',
  'sha256',
  'sampleRate',
  'interrupted',
  'interruptedBy',
  'heard',
] as const;

export const sessionStatuses = ['active', 'archived'] as const;
export type SessionStatus = (typeof sessionStatuses)[number];

/** A JSON object as carried in `context` and `metadata`. */
export type JsonObject = { [key: string]: unknown };

/** An ISO-8601 time as the server writes it. */
const isoTime = z.string().describe('ISO-8601 time');
const uuidOut = z.string().describe('UUID');
const jsonObjectOut = z.record(z.string(), z.unknown());

/** Whether a session that names an agent has one of its workers (protocol v7). */
export const agentStates = ['waiting', 'assigned'] as const;
export type AgentState = (typeof agentStates)[number];

export const agentStatusModel = z.object({
  state: z.enum(agentStates).describe("'waiting': no live worker of the agent has room for it yet."),
  workerId: z.string().optional().describe('The worker that has it, when assigned.'),
});
export type AgentStatus = z.output<typeof agentStatusModel>;

/** A conversation (PROTOCOL section 3). Times are ISO-8601 strings. */
export const sessionModel = z
  .object({
    id: uuidOut,
    userId: uuidOut,
    title: z.string(),
    status: z.enum(sessionStatuses),
    context: jsonObjectOut,
    metadata: jsonObjectOut,
    lastSeq: z.number().int().min(0).describe('Seq of the newest committed message; 0 when empty.'),
    createdAt: isoTime,
    updatedAt: isoTime,
    agent: z
      .string()
      .optional()
      .describe('The agent whose worker answers the session (protocol v7); absent when it names none.'),
    agentStatus: agentStatusModel
      .optional()
      .describe(
        'Whether a worker of the agent has the session now (protocol v7): in session:create, session:join and GET /v1/sessions/:id.',
      ),
  })
  .meta({ id: 'Session' });
export type Session = z.output<typeof sessionModel>;

/** A committed message (PROTOCOL section 4). */
export const messageModel = z
  .object({
    id: uuidOut,
    sessionId: uuidOut,
    seq: z.number().int().min(1).describe('1, 2, 3, ... per session, gap-free across all nodes.'),
    role: z.enum(messageRoles),
    content: z.string(),
    contentType: z.enum(contentTypes),
    metadata: jsonObjectOut,
    clientMsgId: z.string().nullable(),
    senderId: uuidOut
      .nullable()
      .describe(
        "The user who sent it (for an interrupted turn, the stream's owner); null for messages stored before protocol v2. Idempotency keys are per (session, sender).",
      ),
    createdAt: isoTime,
    tokensUsed: z.number().int().optional(),
    processingTimeMs: z.number().int().optional(),
  })
  .meta({ id: 'Message' });
export type Message = z.output<typeof messageModel>;

/** The relationship types between entities (the only ones that ever reach query text). */
export const relationTypes = ['RELATED_TO', 'CO_OCCURS'] as const;
/** Deepest graph expansion (`related`, `retrieve`'s graphDepth). */
export const MAX_GRAPH_DEPTH = 3;

/** Messages in one history page (`history:get`, `GET /v1/sessions/:id/messages`) when `limit` is not given, and at most. */
export const HISTORY_PAGE = { default: 50, max: 200 } as const;
/** Longest shortest path searched for. */
export const MAX_PATH_HOPS = 8;
