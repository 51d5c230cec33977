import { z } from 'zod';
import { wireErrorModel } from './errors.js';
import { documentFailureMessages } from './events.js';
import { agentStates, MAX_GRAPH_DEPTH, MAX_PATH_HOPS, messageModel, relationTypes } from './models.js';
import { roles } from './roles.js';
import { isStorableText, jsonObject, text } from './schemas.js';

const printable = (field: string, max: number) =>
  z
    .string()
    .trim()
    .min(1, `${field} is required`)
    .max(max, `${field} is at most ${max} characters`)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: names and types must not carry control characters: this finds them
    .refine((value) => !/[\u0000-\u001f\u007f]/.test(value), `${field} must not contain control characters`)
    .refine(isStorableText, `${field} must not contain lone surrogates`);

/** `POST /v1/auth/register` body. */
export const registerBody = z
  .object({
    email: z.string().trim().toLowerCase().max(255).email('email is not a valid address'),
    username: printable('username', 100),
    // Bounded so that hashing stays cheap for the server whatever a client sends.
    password: z.string().min(8, 'password is at least 8 characters').max(256, 'password is at most 256 characters'),
  })
  .strict();

/** `POST /v1/auth/login` body. */
export const loginBody = z
  .object({
    email: z.string().trim().toLowerCase().max(255).email('email is not a valid address'),
    password: z.string().min(1).max(256),
  })
  .strict();

/** `POST /v1/auth/refresh` and `POST /v1/auth/logout` body. */
export const refreshBody = z.object({ refreshToken: z.string().min(1).max(200) }).strict();

/** `POST /v1/auth/token` body: a service account's API key (protocol v3). */
export const apiKeyTokenBody = z.object({ apiKey: z.string().min(1).max(200) }).strict();

/** `PUT /v1/users/me/password` body (protocol v3). */
export const changePasswordBody = z
  .object({
    currentPassword: z.string().min(1).max(256),
    newPassword: z.string().min(8, 'password is at least 8 characters').max(256, 'password is at most 256 characters'),
  })
  .strict();

/** `DELETE /v1/users/me` body: the password again, so that a stolen access token cannot erase an account (protocol v3). */
export const deleteAccountBody = z.object({ password: z.string().min(1).max(256) }).strict();

export type RegisterBody = z.output<typeof registerBody>;
export type LoginBody = z.output<typeof loginBody>;

/** A user as the HTTP API returns it (never the password hash). */
export const publicUserModel = z
  .object({
    id: z.string(),
    email: z.string(),
    username: z.string(),
    roles: z.array(z.enum(roles)),
    createdAt: z.string(),
  })
  .meta({ id: 'PublicUser' });
export type PublicUser = z.output<typeof publicUserModel>;

/** Body of a successful register, login, refresh or password change. */
export const authResponseModel = z
  .object({
    user: publicUserModel,
    accessToken: z.string(),
    expiresIn: z.number().int().describe('Seconds until the access token expires.'),
    refreshToken: z.string().describe('Single-use token for `POST /v1/auth/refresh` (an addition to PROTOCOL v1).'),
  })
  .meta({ id: 'AuthResponse' });
export type AuthResponse = z.output<typeof authResponseModel>;

/** Body of `POST /v1/auth/token`: an access token for a service account (no refresh token: the key is the long-lived credential). */
export const apiKeyTokenResponseModel = z.object({
  user: publicUserModel,
  accessToken: z.string(),
  expiresIn: z.number().int(),
});
export type ApiKeyTokenResponse = z.output<typeof apiKeyTokenResponseModel>;

/** Every HTTP error: `{ error: { code, message, details? } }` (429 also sends `Retry-After`). */
export const errorResponseModel = z
  .object({ error: wireErrorModel.omit({ retryAfterMs: true }) })
  .meta({ id: 'ErrorResponse' });

/** A document's metadata as the HTTP API returns it. */
export const documentModel = z
  .object({
    id: z.string(),
    userId: z.string(),
    title: z.string(),
    metadata: z.record(z.string(), z.unknown()),
    status: z
      .enum(['processing', 'ready', 'failed', 'deleting'])
      .describe('`deleting`: being removed from every store (reads no longer show it).'),
    statusReason: z
      .enum(documentFailureMessages)
      .nullable()
      .describe('Why ingestion failed (`failed` only): one of a fixed set of sentences (v5).'),
    filePath: z.string().nullable(),
    fileSize: z.number().int().nullable(),
    mimeType: z.string().nullable(),
    chunkCount: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({ id: 'Document' });

/** `GET /v1/sessions/:id/messages` (the same page as `history:get`). */
export const messagePageModel = z.object({ messages: z.array(messageModel), hasMore: z.boolean() });

/** An entity or relation id in a path or query (any text; it only ever travels as a query parameter). */
const graphId = text(200, 1);

/** `POST /v1/graph/entities` body: an entity of the caller, added by hand. */
export const createEntityBody = z
  .object({
    name: printable('name', 200),
    type: printable('type', 50),
    description: text(2000).optional(),
    properties: jsonObject.optional(),
  })
  .strict();

/** `POST /v1/graph/relations` body: a RELATED_TO between two entities of the same user. */
export const createRelationBody = z
  .object({
    from: graphId,
    to: graphId,
    /** Only RELATED_TO can be made by hand; CO_OCCURS comes from documents. */
    relationType: z.literal('RELATED_TO').default('RELATED_TO'),
    /** Free-text kind, for example `概念关联` or `part-of`. */
    type: text(100).default(''),
    weight: z.number().min(0).max(1).default(1),
  })
  .strict();

/** `GET /v1/graph/entities?q=` query: the caller's entities whose name contains `q`. */
export const findEntitiesQuery = z
  .object({
    q: z.string().trim().min(1).max(200).refine(isStorableText, 'q must not contain NUL characters or lone surrogates'),
    limit: z.coerce.number().int().min(1).max(100).default(20),
  })
  .strict();

/** `GET /v1/graph/entities/:id/related` query. */
export const relatedQuery = z
  .object({
    depth: z.coerce.number().int().min(1).max(MAX_GRAPH_DEPTH).default(2),
    limit: z.coerce.number().int().min(1).max(100).default(10),
  })
  .strict();

/** `GET /v1/graph/entities/:id/neighbors` query: `types` is a comma-separated subset of RELATED_TO, CO_OCCURS. */
export const neighboursQuery = z
  .object({
    types: z
      .string()
      .default('RELATED_TO,CO_OCCURS')
      .transform((value) => value.split(',').map((t) => t.trim()))
      .pipe(z.array(z.enum(relationTypes)).min(1)),
    limit: z.coerce.number().int().min(1).max(200).default(50),
  })
  .strict();

/** `GET /v1/graph/path` query. */
export const pathQuery = z
  .object({ from: graphId, to: graphId, maxHops: z.coerce.number().int().min(1).max(MAX_PATH_HOPS).default(6) })
  .strict();

/** `POST /v1/graph/algorithms/:name` body (admin). */
export const algorithmBody = z
  .object({ ownerId: text(200, 1).optional(), limit: z.coerce.number().int().min(1).max(1000).default(20) })
  .strict();

export const graphIdParams = z.object({ id: graphId });

/** `GET /v1/documents/:id/entities` query. */
export const documentEntitiesQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(1000).default(100) })
  .strict();

/** One node as `GET /v1/admin/cluster` shows it (protocol v7): what it reports of itself. */
export const clusterNodeModel = z.object({
  nodeId: z.string(),
  version: z.string(),
  startedAt: z.string().describe('ISO-8601'),
  draining: z.boolean(),
  sockets: z.number().int().describe('Connected sockets'),
  sessions: z.number().int().describe('Sessions joined by at least one of its sockets'),
  workers: z.number().int().describe('Assistant workers registered on its sockets'),
  eventLoopDelayMs: z
    .object({ mean: z.number(), p99: z.number(), max: z.number() })
    .describe('Over the last completed 5 s window'),
  memory: z.object({ rssBytes: z.number().int(), heapUsedBytes: z.number().int() }),
});
export type ClusterNode = z.output<typeof clusterNodeModel>;

/** Who is in one session on one node. */
export const clusterMemberModel = z.object({
  nodeId: z.string(),
  userId: z.string(),
  role: z.enum(roles),
  connections: z.number().int(),
});
export type ClusterMember = z.output<typeof clusterMemberModel>;

/** `GET /v1/admin/cluster` response (protocol v7). */
export const clusterViewModel = z.object({
  nodes: z.array(clusterNodeModel),
  sessions: z.array(
    z.object({
      sessionId: z.string(),
      members: z.array(clusterMemberModel),
      assistant: z
        .object({
          agent: z.string(),
          state: z.enum(agentStates),
          workerId: z.string().optional(),
          nodeId: z.string().optional().describe("The node of the worker's socket"),
        })
        .optional(),
    }),
  ),
  truncated: z.boolean().describe('More sessions are live than listed (the ones with most connections are)'),
  unanswered: z.boolean().describe('Some node did not answer in time: the view may miss it'),
});
export type ClusterView = z.output<typeof clusterViewModel>;
