import type { ErrorCode, WireError } from '../../protocol/errors.js';
import { errorRegistry } from './registry.js';

/** Options of an AppError beyond its code. */
export interface AppErrorOptions {
  /** Text for the client; defaults to the registry's message for the code. */
  message?: string;
  /** With RATE_LIMITED: milliseconds until a retry may succeed. */
  retryAfterMs?: number;
  /** Structured, client-safe detail (for example which field failed validation). */
  details?: unknown;
  /** The original failure, kept for logs; never sent to clients. */
  cause?: unknown;
}

/** The one error type the server throws on purpose; everything else maps to INTERNAL. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.message ?? errorRegistry[code].message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = errorRegistry[code].status;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
  }
}

/**
 * Maps any thrown value to the wire error. Unknown errors become INTERNAL with the
 * registry's generic message, so internals never leak to clients.
 */
export function toWireError(error: unknown): WireError {
  const app = error instanceof AppError ? error : new AppError('INTERNAL', { cause: error });
  const wire: WireError = { code: app.code, message: app.message };
  if (app.retryAfterMs !== undefined) wire.retryAfterMs = app.retryAfterMs;
  if (app.details !== undefined) wire.details = app.details;
  return wire;
}

/** True for errors that should be logged at error level (not the client's fault). */
export function isServerFault(error: unknown): boolean {
  return !(error instanceof AppError) || error.status >= 500;
}
