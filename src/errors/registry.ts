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
