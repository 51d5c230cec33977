import { contentTypes, messageRoles } from '../../../protocol/models.js';
import { AppError } from '../../errors/app-error.js';
import type { AppendInput } from './message-store.js';

/** Limits checked before a message reaches the database. */
export interface MessageLimits {
  /** Largest `content` in UTF-8 bytes (`MESSAGE_MAX_BYTES`, PROTOCOL section 4). */
  maxContentBytes: number;
  /** Largest `metadata` as JSON, in bytes (16 KiB, set in config/sections.ts). */
  maxMetadataBytes: number;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ids must not carry control characters: this finds them
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION', { message, details: { field } });
}

/**
 * PostgreSQL cannot store NUL in text or jsonb, and lone UTF-16 surrogates are not valid
 * UTF-8: both are refused here with a typed error, before anything is written.
 */
export function assertStorableText(value: string, field: string): void {
  if (value.includes('\u0000')) throw invalid(field, `${field} must not contain NUL characters`);
  if (LONE_SURROGATE.test(value)) throw invalid(field, `${field} is not valid Unicode (lone surrogate)`);
}

const MAX_JSON_DEPTH = 32;

/** Applies `assertStorableText` to every key and string of a JSON value; limits nesting. */
export function assertStorableJson(value: unknown, field: string, depth = 0): void {
  if (depth > MAX_JSON_DEPTH) throw invalid(field, `${field} is nested too deeply`);
  if (typeof value === 'string') assertStorableText(value, field);
  else if (Array.isArray(value)) for (const item of value) assertStorableJson(item, field, depth + 1);
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      assertStorableText(key, field);
      assertStorableJson(inner, field, depth + 1);
    }
  }
}

/** True for a canonical UUID string. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/** Checks an append before it is queued: ids, sizes, storable text, known enums. */
/** A message's content: within the size limit, and storable. */
export function validateContent(content: string, limits: MessageLimits): void {
  if (Buffer.byteLength(content, 'utf8') > limits.maxContentBytes) {
    throw new AppError('PAYLOAD_TOO_LARGE', {
      message: `content exceeds ${limits.maxContentBytes} bytes`,
      details: { field: 'content', limit: limits.maxContentBytes },
    });
  }
  assertStorableText(content, 'content');
}

export function validateAppend(input: AppendInput, limits: MessageLimits): void {
  if (!isUuid(input.sessionId)) throw new AppError('NOT_FOUND', { message: 'session not found' });
  if (!isUuid(input.senderId)) throw invalid('senderId', 'senderId must be a user id');
  if (input.clientMsgId.length < 1 || input.clientMsgId.length > 64 || CONTROL.test(input.clientMsgId)) {
    throw invalid('clientMsgId', 'clientMsgId must be 1-64 printable characters');
  }
  assertStorableText(input.clientMsgId, 'clientMsgId');
  if (!messageRoles.includes(input.role)) throw invalid('role', 'unknown role');
  if (!contentTypes.includes(input.contentType)) throw invalid('contentType', 'unknown contentType');
  validateContent(input.content, limits);
  const metadata = JSON.stringify(input.metadata);
  if (Buffer.byteLength(metadata, 'utf8') > limits.maxMetadataBytes) {
    throw new AppError('PAYLOAD_TOO_LARGE', {
      message: `metadata exceeds ${limits.maxMetadataBytes} bytes`,
      details: { field: 'metadata', limit: limits.maxMetadataBytes },
    });
  }
  assertStorableJson(input.metadata, 'metadata');
  for (const [field, value] of [
    ['tokensUsed', input.tokensUsed],
    ['processingTimeMs', input.processingTimeMs],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > 2_147_483_647)) {
      throw invalid(field, `${field} must be a non-negative 32-bit integer`);
    }
  }
}
