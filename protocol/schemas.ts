import { z } from 'zod';
import {
  HISTORY_PAGE,
  type JsonObject,
  MAX_GRAPH_DEPTH,
  messageRoles,
  sendableContentTypes,
  serverMetadataKeys,
  sessionStatuses,
} from './models.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL cannot be stored by PostgreSQL: this finds it
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * True when a string can be stored as it is: PostgreSQL refuses NUL in text and jsonb, and
 * a lone UTF-16 surrogate is not valid Unicode (it would be stored as U+FFFD).
 */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

const STORABLE_MESSAGE = 'must not contain NUL characters or lone surrogates';

/**
 * A text field of the protocol: at most `max` characters, refused with VALIDATION when it
 * holds NUL or a lone surrogate, so nothing unstorable reaches a store.
 */
export function text(max?: number, min = 0) {
  const base = max === undefined ? z.string().min(min) : z.string().min(min).max(max);
  return base.refine(isStorableText, STORABLE_MESSAGE);
}

/** A UUID string (ids of sessions, messages, users). */
export const uuid = z.string().regex(UUID, 'expected a UUID');

function safeJson(value: unknown, depth: number): boolean {
  if (depth > 16) return false;
  if (Array.isArray(value)) return value.length <= 1000 && value.every((v) => safeJson(v, depth + 1));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return (
      entries.length <= 200 &&
      entries.every(
        ([k, v]) => !FORBIDDEN_KEYS.has(k) && k.length <= 200 && isStorableText(k) && safeJson(v, depth + 1),
      )
    );
  }
  if (typeof value === 'string') return isStorableText(value);
  return typeof value !== 'number' || Number.isFinite(value);
}

const JSON_OBJECT_MAX_BYTES = 16 * 1024;

/** UTF-8 bytes of a value as JSON; Infinity when it cannot be serialised (nested past the stack). */
function jsonBytes(value: unknown): number {
  try {
    return utf8Length(JSON.stringify(value) ?? '');
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/** UTF-8 length of a string, without encoding it (this module also runs in browsers). */
export function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * A JSON object for `context` and `metadata`: at most 16 levels deep, 200 keys per object,
 * no `__proto__` / `constructor` / `prototype` keys (so nothing downstream can be polluted),
 * at most 16 KiB serialised.
 */
export const jsonObject = z
  .unknown()
  .superRefine((value, ctx) => {
    // Checked on the raw input: z.record would rebuild the object and turn an own
    // "__proto__" key into a prototype, hiding it from any later check.
    // The size first, in bytes (one native pass), so that a large object is refused before
    // its entries are walked one by one.
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'expected a JSON object' });
    } else if (jsonBytes(value) > JSON_OBJECT_MAX_BYTES) {
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'must be at most 16 KiB as JSON' });
    } else if (!safeJson(value, 0)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `must be plain JSON: at most 16 levels, 200 keys each, no reserved keys, no text with NUL characters or lone surrogates`,
      });
    }
  })
  .transform((value) => value as JsonObject)
  .describe(
    'a JSON object: at most 16 levels deep, 200 keys per object, no __proto__/constructor/prototype keys, no NUL or lone surrogates, at most 16 KiB',
  );

/** `message:send` metadata: a JSON object without the keys only the server writes. */
const sentMetadata = jsonObject
  .superRefine((value, ctx) => {
    for (const key of serverMetadataKeys) {
      if (Object.hasOwn(value, key))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [key],
          message: `metadata.${key} is set by the server only`,
        });
    }
  })
  .describe(`${jsonObject.description ?? ''}; without the server's keys ${serverMetadataKeys.join(', ')}`);

/** Audio formats accepted by `audio:start`, with the file extension each is stored under. */
export const audioFormats = {
  'audio/webm': 'webm',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/wav': 'wav',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
  'audio/flac': 'flac',
  'audio/l16': 'pcm',
} as const;
export const audioMimeTypes = Object.keys(audioFormats) as [
  keyof typeof audioFormats,
  ...(keyof typeof audioFormats)[],
];

/** A client idempotency key: 1-64 characters; the `stream:` prefix is the server's. */
const clientMsgId = text(64, 1).refine((v) => !v.startsWith('stream:'), 'the stream: prefix is reserved');

/** Stream ids (deltas, audio, `metadata.streamId`): they become parts of keys. */
export const streamIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
const streamId = z.string().regex(streamIdPattern, 'expected 1-64 letters, digits, - or _');

/** Agent names (protocol v7): lowercase, as in `DEFAULT_AGENT`; they become parts of keys. */
export const agentNamePattern = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
export const agentName = z
  .string()
  .regex(agentNamePattern, 'expected 1-64 lowercase letters, digits, _, . or -, starting with a letter or digit');
/** Sessions a worker takes at once when `agent:register` names no capacity (protocol v7). */
export const DEFAULT_AGENT_CAPACITY = 10;

/**
 * Runtime schemas of every client-to-server payload, one per event. Handlers receive only
 * what these produce (unknown keys stripped), and the payload types derive from them.
 */
export const payloadSchemas = {
  /** Round trip to this node; answers `{ nodeId, serverTime }`. An addition to PROTOCOL v1. */
  'sys:ping': z.object({}).strict().optional(),
  'session:create': z
    .object({
      title: text(255).optional(),
      context: jsonObject.optional(),
      metadata: jsonObject.optional(),
      agent: agentName
        .optional()
        .describe('The agent whose worker answers the session (protocol v7); default DEFAULT_AGENT.'),
    })
    .strict()
    .optional(),
  'session:join': z
    .object({
      sessionId: uuid,
      sinceSeq: z.number().int().min(0).optional(),
      liveAudio: z
        .boolean()
        .optional()
        .describe(
          "Receive the session's audio streams live (audio:started, audio:frame, audio:ended; protocol v6); a join without it stops them.",
        ),
    })
    .strict(),
  'session:leave': z.object({ sessionId: uuid }).strict(),
  'session:list': z
    .object({
      limit: z.number().int().min(1).max(100).optional(),
      cursor: text(200).optional(),
      status: z.enum(sessionStatuses).optional(),
    })
    .strict()
    .optional(),
  'session:update': z
    .object({
      sessionId: uuid,
      title: text(255).optional(),
      context: jsonObject.optional(),
      metadata: jsonObject.optional(),
      status: z.enum(sessionStatuses).optional(),
    })
    .strict(),
  'session:delete': z.object({ sessionId: uuid }).strict(),
  'turn:interrupt': z
    .object({
      sessionId: uuid,
      streamId,
      /** What the listener heard, in Unicode code points of the stream's text. */
      heardChars: z.number().int().min(0).max(1_000_000).optional(),
      /** The last delta index heard, inclusive. */
      heardIndex: z.number().int().min(0).max(1_000_000).optional(),
    })
    .strict()
    .refine((p) => p.heardChars === undefined || p.heardIndex === undefined, {
      message: 'give heardChars or heardIndex, not both',
      path: ['heardIndex'],
    }),
  'message:send': z
    .object({
      sessionId: uuid,
      clientMsgId,
      content: text(),
      role: z.enum(messageRoles).optional(),
      contentType: z
        .enum(sendableContentTypes, { error: "expected 'text' or 'transcript' (audio messages come from audio:end)" })
        .optional(),
      metadata: sentMetadata.optional(),
      tokensUsed: z.number().int().min(0).max(2_147_483_647).optional(),
      processingTimeMs: z.number().int().min(0).max(2_147_483_647).optional(),
    })
    .strict(),
  'message:delta': z
    .object({
      sessionId: uuid,
      streamId,
      index: z.number().int().min(0).max(1_000_000),
      delta: text(8 * 1024),
      role: z.enum(messageRoles).optional(),
    })
    .strict(),
  'audio:start': z
    .object({
      sessionId: uuid,
      streamId,
      mimeType: z.enum(audioMimeTypes),
      sampleRate: z.number().int().min(8_000).max(192_000).optional(),
    })
    .strict(),
  'audio:chunk': z
    .object({
      streamId,
      index: z.number().int().min(0).max(1_000_000),
      data: z
        .custom<Uint8Array>((value) => value instanceof Uint8Array, 'expected binary data')
        .describe('binary (a Buffer / Uint8Array attachment)'),
    })
    .strict(),
  'audio:end': z.object({ streamId, clientMsgId, transcript: text().optional() }).strict(),
  /** Ends an audio stream of this socket without storing it (protocol v6). */
  'audio:abort': z.object({ streamId }).strict(),
  'audio:url': z.object({ messageId: uuid }).strict(),
  retrieve: z
    .object({
      query: z.string().trim().min(1).max(2_000).refine(isStorableText, STORABLE_MESSAGE),
      topK: z.number().int().min(1).max(50).optional(),
      documentIds: z.array(uuid).max(100).optional(),
      graphDepth: z.number().int().min(0).max(MAX_GRAPH_DEPTH).optional(),
      sessionId: uuid.optional(),
    })
    .strict(),
  /** Sets the transcript of an audio message (protocol v7): services, in sessions they joined. */
  'message:transcript': z
    .object({ messageId: uuid, transcript: text().describe('What was said; becomes the message content.') })
    .strict(),
  /** Serves an agent from this socket (protocol v7): sessions naming it are dispatched here. */
  'agent:register': z
    .object({
      agent: agentName,
      capacity: z
        .number()
        .int()
        .min(1)
        .max(10_000)
        .optional()
        .describe(`Sessions this worker takes at once; default ${DEFAULT_AGENT_CAPACITY}.`),
    })
    .strict(),
  /** Hands a dispatched session back: another worker gets it, or it waits (protocol v7). */
  'agent:release': z.object({ sessionId: uuid }).strict(),
  'history:get': z
    .object({
      sessionId: uuid,
      beforeSeq: z.number().int().min(1).optional(),
      limit: z.number().int().min(1).max(HISTORY_PAGE.max).optional(),
    })
    .strict(),
} as const;

export type ClientEventName = keyof typeof payloadSchemas;
export type PayloadOf<E extends ClientEventName> = z.output<(typeof payloadSchemas)[E]>;
