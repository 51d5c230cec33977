import { type ZodType, z } from 'zod';
import { errorCodes, wireErrorModel } from './errors.js';
import { ackDataSchemas, pushSchemas } from './events.js';
import { PROTOCOL_VERSION } from './models.js';
import { payloadSchemas } from './schemas.js';

type Json = Record<string, unknown>;

const SCHEMAS = '#/components/schemas/';

/** A component key for an event name (AsyncAPI keys allow letters, digits, `.`, `-`, `_`). */
const keyOf = (event: string) => event.replace(/:/g, '.');

/**
 * JSON Schema (draft-07, the base of AsyncAPI's schema format) of one side of a zod
 * schema. Schemas with an id (Message, Session, ...) go to `components.schemas` once and
 * are referenced from there.
 */
function schemaOf(schema: ZodType, io: 'input' | 'output', shared: Json): Json {
  const {
    $schema: _,
    definitions,
    ...rest
  } = z.toJSONSchema(schema, { target: 'draft-7', io, unrepresentable: 'any' }) as Json & {
    definitions?: Record<string, Json>;
  };
  for (const [id, definition] of Object.entries(definitions ?? {})) shared[id] = relink(definition);
  return relink(rest) as Json;
}

/** `#/definitions/X` references, pointed at `components.schemas`. */
function relink(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relink);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === '$ref' && typeof inner === 'string' ? inner.replace('#/definitions/', SCHEMAS) : relink(inner),
    ]),
  );
}

/**
 * The Socket.IO half of the protocol as an AsyncAPI 3 document, generated from the schemas
 * in `protocol/`: one operation per client event (the server receives it; its reply is the
 * ack `{ ok: true, data } | { ok: false, error }`) and one per server push. Served at
 * `GET /asyncapi.json`; `npm run protocol:generate` writes it to `protocol/asyncapi.json`
 * and a test fails when that file is stale or the AsyncAPI parser finds a problem.
 */
export function asyncApiDocument(): Json {
  const shared: Json = {};
  const messages: Json = {};
  const operations: Json = {};
  const channel = { $ref: '#/channels/socket' };
  const messageRef = (key: string) => ({ $ref: `#/channels/socket/messages/${key}` });
  shared['WireError'] = schemaOf(wireErrorModel, 'output', shared);

  for (const [event, schema] of Object.entries(payloadSchemas)) {
    const key = keyOf(event);
    const data = ackDataSchemas[event as keyof typeof ackDataSchemas];
    messages[key] = {
      name: event,
      title: `${event} (client to server)`,
      summary: schema.description ?? `The payload of ${event}.`,
      payload: schemaOf(schema, 'input', shared),
    };
    messages[`${key}.ack`] = {
      name: `${event} ack`,
      title: `Ack of ${event}`,
      summary: 'Every client event is acknowledged exactly once, through the Socket.IO ack callback.',
      payload: {
        oneOf: [
          {
            type: 'object',
            properties: { ok: { const: true }, data: schemaOf(data, 'output', shared) },
            required: ['ok', 'data'],
            additionalProperties: false,
          },
          {
            type: 'object',
            properties: { ok: { const: false }, error: { $ref: `${SCHEMAS}WireError` } },
            required: ['ok', 'error'],
            additionalProperties: false,
          },
        ],
      },
    };
    operations[`receive.${key}`] = {
      action: 'receive',
      channel,
      title: event,
      summary: `A client emits ${event} with an ack callback.`,
      messages: [messageRef(key)],
      reply: { channel, messages: [messageRef(`${key}.ack`)] },
    };
  }
  for (const [event, schema] of Object.entries(pushSchemas)) {
    const key = `push.${keyOf(event)}`;
    messages[key] = {
      name: event,
      title: `${event} (server to client)`,
      summary: schema.description ?? `The server pushes ${event}.`,
      payload: schemaOf(schema, 'output', shared),
    };
    operations[`send.${keyOf(event)}`] = { action: 'send', channel, title: event, messages: [messageRef(key)] };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'VoiceHelper session server Socket.IO protocol',
      version: String(PROTOCOL_VERSION),
      description: [
        `Protocol v${PROTOCOL_VERSION} (docs/protocol.md). Clients connect with Socket.IO 4 at path /socket.io/ and authenticate in the handshake: auth: { token: <access token> }.`,
        'Each message below is a Socket.IO event: its name is the event name, its payload the first argument. Client events take a trailing ack callback.',
        `Error codes: ${errorCodes.join(', ')}. Generated from protocol/; do not edit.`,
      ].join(' '),
    },
    defaultContentType: 'application/json',
    servers: {
      node: {
        host: 'localhost:3000',
        protocol: 'ws',
        pathname: '/socket.io/',
        description: 'A VoiceHelper node (Socket.IO over WebSocket, or HTTP long-polling).',
      },
    },
    channels: {
      socket: { address: '/', title: 'One Socket.IO connection', messages },
    },
    operations,
    components: { schemas: shared },
  };
}

/** The document as committed: two-space indentation, final newline. */
export function renderAsyncApiDocument(): string {
  return `${JSON.stringify(asyncApiDocument(), null, 2)}\n`;
}
