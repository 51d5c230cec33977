import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { uuid } from '../../protocol/schemas.js';
import type { TokenService } from '../auth/tokens.js';
import type { Caller, SessionService } from '../services/session-service.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import { parseBody } from './auth.js';

/** What the session routes need. */
export interface SessionRouteOptions {
  sessions: SessionService;
  messages: MessageStore;
  tokens: TokenService;
}

const historyQuery = z
  .object({
    beforeSeq: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
  })
  .strict();

/** The caller of an HTTP request, from `Authorization: Bearer <access token>`. */
export async function authenticate(request: FastifyRequest, tokens: TokenService): Promise<Caller> {
  const header = request.headers.authorization;
  const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  const claims = await tokens.verify(token);
  return { ...claims, ip: request.ip };
}

/** `GET /v1/sessions/:id/messages?beforeSeq=&limit=` (same as `history:get`). */
export function registerSessionRoutes(app: FastifyInstance, options: SessionRouteOptions): void {
  app.get('/v1/sessions/:id/messages', async (request) => {
    const caller = await authenticate(request, options.tokens);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const query = parseBody(historyQuery, request.query);
    await options.sessions.authorize(caller, id);
    return options.messages.pageBefore(id, query.beforeSeq, query.limit ?? 50);
  });
}
