import { type ZodType, z } from 'zod';
import { errorCodes } from './errors.js';
import { algorithmBody, createEntityBody, createRelationBody, loginBody, refreshBody, registerBody } from './http.js';
import { PROTOCOL_VERSION } from './models.js';
import { payloadSchemas } from './schemas.js';

/**
 * The machine-readable protocol: a JSON Schema document with one definition per
 * client-to-server event payload and HTTP body, derived from the runtime schemas that the
 * server validates with. `npm run protocol:generate` writes it to protocol/protocol.schema.json;
 * a test fails when the committed file is stale.
 */
export function protocolDocument(): Record<string, unknown> {
  const definitions: Record<string, unknown> = {};
  for (const [event, schema] of Object.entries(payloadSchemas)) {
    definitions[`event:${event}`] = inputSchema(schema);
  }
  for (const [name, schema] of Object.entries({
    register: registerBody,
    login: loginBody,
    refresh: refreshBody,
    graphEntity: createEntityBody,
    graphRelation: createRelationBody,
    graphAlgorithm: algorithmBody,
  })) {
    definitions[`http:${name}`] = inputSchema(schema);
  }
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `https://voicehelper.example/protocol/v${PROTOCOL_VERSION}`,
    title: `VoiceHelper session protocol v${PROTOCOL_VERSION}: client payloads`,
    description:
      'Generated from protocol/schemas.ts and protocol/http.ts; do not edit. Every client event is acknowledged with { ok: true, data } or { ok: false, error: { code, message, retryAfterMs?, details? } }.',
    errorCodes: [...errorCodes],
    definitions,
  };
}

/** What a client may send: the input side of a schema (before defaults and transforms), as draft-07 JSON Schema. */
function inputSchema(schema: ZodType): Record<string, unknown> {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any' });
  return rest;
}

/** The document as committed: stable key order, two-space indentation, final newline. */
export function renderProtocolDocument(): string {
  return `${JSON.stringify(protocolDocument(), null, 2)}\n`;
}
