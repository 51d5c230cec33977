import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { renderAsyncApiDocument } from '../../protocol/asyncapi.js';
import { errorResponseModel } from '../../protocol/http.js';
import { PROTOCOL_VERSION } from '../../protocol/models.js';

/** The OpenAPI security requirement of a route that needs `Authorization: Bearer <access token>`. */
export const bearer = [{ bearerAuth: [] }];

/** The body of a 204 answer (sent as `reply.status(204).send(null)`; no bytes go out). */
export const noContent = z.null().describe('No content');

/** Every route's error answers: `{ error: { code, message, details? } }`. */
const errorResponses = { '4XX': errorResponseModel, '5XX': errorResponseModel } as const;

/** Success bodies not described yet: any JSON (the document says so rather than guess). */
const anyJson = { '2XX': z.unknown().describe('JSON; see docs/protocol.md') } as const;

/** A route's responses: its own success bodies and the shared error body. */
export function responses<R extends Record<number, z.ZodType>>(success: R): R & typeof errorResponses;
export function responses(): typeof anyJson & typeof errorResponses;
export function responses(success: Record<number, z.ZodType> = anyJson): Record<string, z.ZodType> {
  return { ...success, ...errorResponses };
}

/**
 * Route schemas are zod schemas (`protocol/http.ts` and the route files): they validate
 * params, query and body before a handler runs, check and serialize responses, and are the
 * OpenAPI 3.1 document served at `GET /docs/json` with a browsable UI at `GET /docs`; the
 * AsyncAPI 3 document of the Socket.IO events is served at `GET /asyncapi.json`.
 * Registered before any route, so that every route is in the document.
 */
export async function registerApiDocs(app: FastifyInstance, options: { version: string }): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'VoiceHelper session server HTTP API',
        version: options.version,
        description: `The HTTP half of protocol v${PROTOCOL_VERSION} (docs/protocol.md). Socket.IO events are described by the AsyncAPI document at /asyncapi.json.`,
      },
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            bearerFormat: 'JWT',
            description: 'An access token from /v1/auth/login, /register, /refresh or /token.',
          },
        },
      },
      tags: [
        { name: 'auth', description: 'Accounts and tokens' },
        { name: 'sessions', description: 'Conversations (the rest is Socket.IO)' },
        { name: 'documents', description: 'Uploads for retrieval' },
        { name: 'graph', description: 'The knowledge graph' },
        { name: 'admin', description: 'Admins only, audited' },
        { name: 'operations', description: 'Health and metrics' },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  // The Socket.IO events, from the same protocol/ schemas the dispatcher validates with.
  // Rendered on first request, not at every start.
  let asyncApi: string | undefined;
  app.get('/asyncapi.json', { schema: { hide: true } }, async (_request, reply) => {
    asyncApi ??= renderAsyncApiDocument();
    return reply.type('application/json').send(asyncApi);
  });
}
