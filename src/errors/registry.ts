import type { ErrorCode } from '../../protocol/errors.js';

/** HTTP status and default message for every wire error code: the one registry. */
export const errorRegistry: Readonly<Record<ErrorCode, { status: number; message: string }>> = Object.freeze({
  VALIDATION: { status: 400, message: 'the request is invalid' },
  UNAUTHORIZED: { status: 401, message: 'unauthorized' },
  INVALID_CREDENTIALS: { status: 401, message: 'wrong email or password' },
  FORBIDDEN: { status: 403, message: 'not allowed' },
  NOT_FOUND: { status: 404, message: 'not found' },
  CONFLICT: { status: 409, message: 'conflict' },
  RATE_LIMITED: { status: 429, message: 'too many requests' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'payload too large' },
  UNAVAILABLE: { status: 503, message: 'a dependency is unavailable; retry later' },
  INTERNAL: { status: 500, message: 'internal error' },
});

/**
 * Why an expected failure happened, for the code that handles it (a failure is recognised
 * by its reason, never by its code and the shape of its details). Internal: the wire
 * carries only the code, the message and the details.
 */
export const errorReasons = {
  /** A token or audio stream was cut by a barge-in and its turn is stored (details name the message). */
  stream_interrupted: 'CONFLICT',
  /** A stream was cut a moment ago and its turn is still being stored: look the message up. */
  stream_interrupted_storing: 'CONFLICT',
  /** An audio stream id already open on this socket, or in the session (on any node). */
  audio_stream_in_use: 'CONFLICT',
  /** A write guarded by a lock carried a token older than one the store accepted. */
  stale_fencing_token: 'CONFLICT',
  /** A document left `processing` (deleted, or finished by another worker) while being ingested. */
  document_not_ingesting: 'CONFLICT',
  /** Registration with an email that has an account. */
  email_taken: 'CONFLICT',
  /** An upload body that sent nothing for UPLOAD_IDLE_TIMEOUT_MS: cut, HTTP 408. */
  body_idle: 'VALIDATION',
  /** An upload body slower than UPLOAD_MIN_BYTES_PER_SECOND: cut, HTTP 408. */
  body_too_slow: 'VALIDATION',
} as const satisfies Record<string, ErrorCode>;

export type ErrorReason = keyof typeof errorReasons;

/**
 * HTTP statuses of reasons that need a narrower one than their code's: a request whose
 * body came too slowly is 408, a status no wire code has.
 */
export const reasonStatuses: Readonly<Partial<Record<ErrorReason, number>>> = Object.freeze({
  body_idle: 408,
  body_too_slow: 408,
});
