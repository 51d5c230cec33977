import { z } from 'zod';

/**
 * The error codes of the wire contract (PROTOCOL section 2 and 7). Stable strings: clients
 * switch on them, so a code is never renamed or removed.
 */
export const errorCodes = [
  'VALIDATION',
  'UNAUTHORIZED',
  'INVALID_CREDENTIALS',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'RATE_LIMITED',
  'PAYLOAD_TOO_LARGE',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

/** The error object carried in a failed ack and in HTTP error bodies. */
export const wireErrorModel = z
  .object({
    code: z.enum(errorCodes).describe('Stable code from `errorCodes`.'),
    message: z.string().describe('Human-readable text; never contains secrets or stack traces.'),
    retryAfterMs: z
      .number()
      .int()
      .optional()
      .describe('Milliseconds until a retry may succeed; always present with `RATE_LIMITED`.'),
    details: z
      .unknown()
      .optional()
      .describe('Structured detail, for example the failing field of a `VALIDATION` error.'),
  })
  .meta({ id: 'WireError' });
export type WireError = z.output<typeof wireErrorModel>;

/** Every client-to-server event is acknowledged exactly once with one of these. */
export type Ack<T> = { ok: true; data: T } | { ok: false; error: WireError };

/** An acknowledgement callback as Socket.IO passes it to a handler. */
export type AckCallback<T> = (response: Ack<T>) => void;
