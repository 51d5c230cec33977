import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { uuid } from '../../protocol/schemas.js';
import type { Authenticator } from '../services/authenticator.js';
import type { Caller, SessionService } from '../services/session-service.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import { parseBody } from './auth.js';
import type { Erasure } from '../services/erasure.js';
import type { AppServer } from '../realtime/io-server.js';
import { deleteSession } from '../realtime/handlers/session-handlers.js';
import type { TurnClock } from '../realtime/turn-clock.js';

/** What the session routes need. */
export interface SessionRouteOptions {
  sessions: SessionService;
  messages: MessageStore;
  erasure: Erasure;
  turns: TurnClock;
  auth: Authenticator;
  /** The Socket.IO server once it exists (members of a deleted session are told through it). */
  io: () => AppServer | undefined;
}

const historyQuery = z
  .object({
    beforeSeq: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
  })
  .strict();

/**
 * The caller of an HTTP request, from `Authorization: Bearer <access token>`, with the
 * user's current role; counted against the per-user HTTP limit (RATE_LIMITED past it).
 */
export async function authenticate(request: FastifyRequest, auth: Authenticator): Promise<Caller> {
  const header = request.headers.authorization;
  const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
  return { ...(await auth.request(token)), ip: request.ip };
}

/** `GET /v1/sessions/:id/messages?beforeSeq=&limit=` (same as `history:get`) and `DELETE /v1/sessions/:id` (same as `session:delete`). */
export function registerSessionRoutes(app: FastifyInstance, options: SessionRouteOptions): void {
  app.get('/v1/sessions/:id/messages', async (request) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const query = parseBody(historyQuery, request.query);
    await options.sessions.authorize(caller, id);
    return options.messages.pageBefore(id, query.beforeSeq, query.limit ?? 50);
  });

  // The figures of the session's last turns, for its owner and admins (protocol v3).
  app.get('/v1/sessions/:id/turns', async (request) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    await options.sessions.authorizeOwner(caller, id);
    return { turns: await options.turns.recent(id) };
  });

  app.delete('/v1/sessions/:id', async (request) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    return deleteSession(options, caller, id);
  });
}
