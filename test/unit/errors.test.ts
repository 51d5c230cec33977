import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../protocol/errors.js';
import { AppError, hasReason, toWireError } from '../../src/errors/app-error.js';
import { errorReasons, errorRegistry } from '../../src/errors/registry.js';

describe('error registry', () => {
  it('has exactly one entry per protocol code, with a 4xx or 5xx status', () => {
    expect(Object.keys(errorRegistry).sort()).toEqual([...errorCodes].sort());
    for (const { status } of Object.values(errorRegistry)) expect(status).toBeGreaterThanOrEqual(400);
  });

  it('maps statuses as PROTOCOL section 7 says', () => {
    expect(errorRegistry.VALIDATION.status).toBe(400);
    expect(errorRegistry.UNAUTHORIZED.status).toBe(401);
    expect(errorRegistry.FORBIDDEN.status).toBe(403);
    expect(errorRegistry.NOT_FOUND.status).toBe(404);
    expect(errorRegistry.CONFLICT.status).toBe(409);
    expect(errorRegistry.PAYLOAD_TOO_LARGE.status).toBe(413);
    expect(errorRegistry.RATE_LIMITED.status).toBe(429);
    expect(errorRegistry.UNAVAILABLE.status).toBe(503);
  });

  it('keeps retryAfterMs and details, and hides unknown errors behind INTERNAL', () => {
    expect(toWireError(new AppError('RATE_LIMITED', { retryAfterMs: 1500 }))).toEqual({
      code: 'RATE_LIMITED',
      message: 'too many requests',
      retryAfterMs: 1500,
    });
    expect(toWireError(new AppError('VALIDATION', { details: { field: 'x' } })).details).toEqual({ field: 'x' });
    const wire = toWireError(new Error('connection string postgres://secret@db leaked'));
    expect(wire).toEqual({ code: 'INTERNAL', message: 'internal error' });
  });

  it('keeps the original failure as cause', () => {
    const cause = new Error('socket hang up');
    expect(new AppError('UNAVAILABLE', { cause }).cause).toBe(cause);
  });

  it('gives every reason a wire code, recognises an error by its reason and never sends the reason', () => {
    for (const code of Object.values(errorReasons)) expect(errorCodes).toContain(code);
    const cut = AppError.because('stream_interrupted_storing', { message: 'cut' });
    expect(cut.code).toBe('CONFLICT');
    expect(hasReason(cut, 'stream_interrupted_storing')).toBe(true);
    // Same code, same (absent) details, another reason: not the same failure.
    expect(hasReason(AppError.because('email_taken'), 'stream_interrupted_storing')).toBe(false);
    expect(hasReason(new AppError('CONFLICT'), 'stream_interrupted_storing')).toBe(false);
    expect(toWireError(cut)).toEqual({ code: 'CONFLICT', message: 'cut' });
  });
});
