import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderAsyncApiDocument } from '../../protocol/asyncapi.js';
import { errorCodes } from '../../protocol/errors.js';
import { renderProtocolDocument } from '../../protocol/generate.js';
import { payloadSchemas } from '../../protocol/schemas.js';
import { packageRoot } from '../../src/util/package-root.js';

describe('protocol/', () => {
  it('has a committed JSON Schema document that matches the runtime schemas (run npm run protocol:generate)', () => {
    const committed = readFileSync(path.join(packageRoot(), 'protocol', 'protocol.schema.json'), 'utf8');
    expect(committed).toBe(renderProtocolDocument());
  });

  it('has a committed AsyncAPI document that matches the runtime schemas (run npm run protocol:generate)', () => {
    const committed = readFileSync(path.join(packageRoot(), 'protocol', 'asyncapi.json'), 'utf8');
    expect(committed).toBe(renderAsyncApiDocument());
  });

  it('describes every client event of PROTOCOL sections 3 to 5 (and session:delete and turn:interrupt of v3, audio:abort of v6, agent:* and message:transcript of v7)', () => {
    expect(Object.keys(payloadSchemas).sort()).toEqual(
      [
        'agent:register',
        'agent:release',
        'audio:abort',
        'audio:chunk',
        'audio:end',
        'audio:start',
        'audio:url',
        'history:get',
        'message:delta',
        'message:send',
        'message:transcript',
        'retrieve',
        'session:create',
        'session:delete',
        'session:join',
        'session:leave',
        'session:list',
        'session:update',
        'sys:ping',
        'turn:interrupt',
      ].sort(),
    );
  });

  it('lists every error code of PROTOCOL section 2 and 7', () => {
    for (const code of [
      'VALIDATION',
      'UNAUTHORIZED',
      'FORBIDDEN',
      'NOT_FOUND',
      'CONFLICT',
      'RATE_LIMITED',
      'PAYLOAD_TOO_LARGE',
      'UNAVAILABLE',
      'INTERNAL',
      'INVALID_CREDENTIALS',
    ]) {
      expect(errorCodes).toContain(code);
    }
  });
});
