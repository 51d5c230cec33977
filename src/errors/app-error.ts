import type { ErrorCode, WireError } from '../../protocol/errors.js';
import { isDependencyFailure } from './dependency-failure.js';
import { type ErrorReason, errorReasons, errorRegistry, reasonStatuses } from './registry.js';

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
  /** Why, for code that handles this failure (`errorReasons`); never sent to clients. */
  reason?: ErrorReason;
}

/** The one error type the server throws on purpose; everything else maps to INTERNAL. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryAfterMs: number | undefined;
  readonly details: unknown;
  readonly reason: ErrorReason | undefined;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    super(options.message ?? errorRegistry[code].message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status =
      (options.reason === undefined ? undefined : reasonStatuses[options.reason]) ?? errorRegistry[code].status;
    this.retryAfterMs = options.retryAfterMs;
    this.details = options.details;
    this.reason = options.reason;
  }

  /** An error of a reason, with the code the registry gives that reason. */
  static because(reason: ErrorReason, options: Omit<AppErrorOptions, 'reason'> = {}): AppError {
    return new AppError(errorReasons[reason], { ...options, reason });
  }
}

/** True when `error` is an AppError raised for `reason`. */
export function hasReason(error: unknown, reason: ErrorReason): error is AppError {
  return error instanceof AppError && error.reason === reason;
}

/**
 * Any thrown value as an AppError: a dependency that failed in a way a retry may fix
 * (a lost connection, a timeout, a server shutting down) is UNAVAILABLE; anything else
 * unknown is INTERNAL with the registry's generic message, so internals never leak.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  return new AppError(isDependencyFailure(error) ? 'UNAVAILABLE' : 'INTERNAL', { cause: error });
}

/** Maps any thrown value to the wire error (see `toAppError`). */
export function toWireError(error: unknown): WireError {
  const app = toAppError(error);
  const wire: WireError = { code: app.code, message: app.message };
  if (app.retryAfterMs !== undefined) wire.retryAfterMs = app.retryAfterMs;
  if (app.details !== undefined) wire.details = app.details;
  return wire;
}

/** True for errors that should be logged at error level (not the client's fault). */
export function isServerFault(error: unknown): boolean {
  return !(error instanceof AppError) || error.status >= 500;
}

/**
 * Raised when a call to a dependency does not answer in time; the wire reports it as
 * UNAVAILABLE (safe to retry).
 */
export class DependencyTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DependencyTimeoutError';
  }
}
