import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ackDataSchemas } from '../../protocol/events.js';
import { messagePageModel } from '../../protocol/http.js';
import { HISTORY_PAGE } from '../../protocol/models.js';
import { payloadSchemas, uuid } from '../../protocol/schemas.js';
import type { AgentDispatch } from '../services/agents.js';
import { deleteSession } from '../services/delete-session.js';
import type { Erasure } from '../services/erasure.js';
import type { Notifier } from '../services/notifier.js';
import type { SessionService } from '../services/session-service.js';
import type { TurnClock } from '../services/turn-clock.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import { bearer, responses } from './api-docs.js';
import { callerOf, signedIn } from './caller.js';

/** What the session routes need. */
export interface SessionRouteOptions {
  sessions: SessionService;
  messages: MessageStore;
  erasure: Erasure;
  turns: TurnClock;
  /** Members of a deleted session are told through it. */
  notifier: Notifier;
  /** Which worker of its agent has each session (protocol v7). */
  agents: AgentDispatch;
}

export const idParams = z.object({ id: uuid });

const historyQuery = z
  .object({
    beforeSeq: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(HISTORY_PAGE.max).optional().describe(`Default ${HISTORY_PAGE.default}.`),
  })
  .strict();

/**
 * `POST /v1/sessions` (as `session:create`, without joining), `GET /v1/sessions/:id`,
 * `GET /v1/sessions/:id/messages?beforeSeq=&limit=` (as `history:get`) and
 * `DELETE /v1/sessions/:id` (as `session:delete`).
 */
export function registerSessionRoutes(http: FastifyInstance, options: SessionRouteOptions): void {
  const app = http.withTypeProvider<ZodTypeProvider>();
  const tags = ['sessions'];

  app.post(
    '/v1/sessions',
    {
      config: signedIn,
      schema: {
        tags,
        summary: 'Create a session (as session:create, protocol v7), dispatched to a worker when it names an agent',
        security: bearer,
        body: payloadSchemas['session:create'].unwrap(),
        response: responses({ 201: ackDataSchemas['session:create'] }),
      },
    },
    async (request, reply) => {
      const { agent, ...input } = request.body;
      const created = await options.sessions.create(callerOf(request), {
        ...input,
        agent: options.agents.agentFor(agent),
      });
      reply.code(201);
      return { session: await options.agents.created(created) };
    },
  );

  app.get(
    '/v1/sessions/:id',
    {
      config: signedIn,
      schema: {
        tags,
        summary: "A session, with its agent's status (protocol v7)",
        security: bearer,
        params: idParams,
        response: responses({ 200: ackDataSchemas['session:create'] }),
      },
    },
    async (request) => {
      const session = await options.sessions.getFresh(callerOf(request), request.params.id);
      return { session: await options.agents.withStatus(session) };
    },
  );

  app.get(
    '/v1/sessions/:id/messages',
    {
      config: signedIn,
      schema: {
        tags,
        summary: 'A page of committed messages before a seq (same as history:get)',
        security: bearer,
        params: idParams,
        querystring: historyQuery,
        response: responses({ 200: messagePageModel }),
      },
    },
    async (request) => {
      const { id } = request.params;
      await options.sessions.authorize(callerOf(request), id);
      return options.messages.pageBefore(id, request.query.beforeSeq, request.query.limit ?? HISTORY_PAGE.default);
    },
  );

  // The figures of the session's last turns, for its owner and admins (protocol v3).
  app.get(
    '/v1/sessions/:id/turns',
    {
      config: signedIn,
      schema: {
        tags,
        summary: "The figures of the session's last turns (owner and admins)",
        security: bearer,
        params: idParams,
        response: responses(),
      },
    },
    async (request) => {
      await options.sessions.authorizeOwner(callerOf(request), request.params.id);
      return { turns: await options.turns.recent(request.params.id) };
    },
  );

  app.delete(
    '/v1/sessions/:id',
    {
      config: signedIn,
      schema: {
        tags,
        summary: 'Delete a session with its messages and audio (same as session:delete)',
        security: bearer,
        params: idParams,
        response: responses({ 200: ackDataSchemas['session:delete'] }),
      },
    },
    async (request) => deleteSession(options, callerOf(request), request.params.id),
  );
}
