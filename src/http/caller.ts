import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Role } from '../../protocol/roles.js';
import { AppError } from '../errors/app-error.js';
import type { Authenticator } from '../services/authenticator.js';
import type { Caller } from '../services/session-service.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route: any signed-in user, or only the roles listed. Unset: anyone. */
    auth?: 'user' | readonly Role[];
  }
  interface FastifyRequest {
    /** The signed-in caller of a route with `config.auth`; null on public routes. */
    caller: Caller | null;
  }
}

/**
 * Puts the caller on every request to a route with `config.auth`, from `Authorization:
 * Bearer <access token>`, with the user's current role, before the body is read or
 * validated: an anonymous request is UNAUTHORIZED whatever it carries, a caller without
 * one of the route's roles FORBIDDEN. Each one counts against the per-user HTTP limit.
 */
export function registerCallerHook(app: FastifyInstance, auth: Authenticator): void {
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request) => {
    const needs = request.routeOptions.config.auth;
    if (needs === undefined) return;
    const header = request.headers.authorization;
    const token = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : undefined;
    const caller: Caller = { ...(await auth.request(token)), ip: request.ip };
    if (needs !== 'user' && !needs.includes(caller.role)) {
      throw new AppError('FORBIDDEN', { message: `${needs.map((role) => `${role}s`).join(' and ')} only` });
    }
    request.caller = caller;
  });
}

/** The caller of a route registered with `config.auth` (a route without it has none: a programming error). */
export function callerOf(request: FastifyRequest): Caller {
  if (request.caller === null) throw new Error(`route ${request.routeOptions.url ?? request.url} has no config.auth`);
  return request.caller;
}

/** `config` of a route any signed-in user may call. */
export const signedIn = { auth: 'user' } as const;
/** `config` of an admin-only route. */
export const adminOnly = { auth: ['admin'] } as const satisfies { auth: readonly Role[] };

/** Who did something over HTTP, for the audit log. */
export function actorOf(request: FastifyRequest, userId: string | null) {
  const agent = request.headers['user-agent'];
  return { userId, ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
}
