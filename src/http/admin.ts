import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { roles } from '../../protocol/roles.js';
import { jsonObject, text, uuid } from '../../protocol/schemas.js';
import type { Authenticator } from '../services/authenticator.js';
import { AppError } from '../errors/app-error.js';
import { RATE_LIMITS_KEY, rateLimitOverrides, type RateLimits } from '../services/rate-limits.js';
import type { Caller } from '../services/session-service.js';
import type { Accounts } from '../services/accounts.js';
import type { AuditLog } from '../stores/postgres/repositories/audit.js';
import type { ConfigRepository } from '../stores/postgres/repositories/configs.js';
import type { UserRepository } from '../stores/postgres/repositories/users.js';
import { parseBody, publicUser } from './auth.js';
import type { ApiKeyService } from '../auth/api-keys.js';
import { authenticate } from './sessions.js';

/** What the admin routes need. */
export interface AdminRouteOptions {
  auth: Authenticator;
  configs: ConfigRepository;
  users: UserRepository;
  audit: AuditLog;
  limits: RateLimits;
  apiKeys: ApiKeyService;
  /** Role and status changes, shared with the CLI. */
  accounts: Pick<Accounts, 'setRoles' | 'setStatus'>;
}

/** The config keys an admin may set, each with the schema of its value. */
const CONFIG_KEYS: Record<string, z.ZodTypeAny> = {
  [RATE_LIMITS_KEY]: rateLimitOverrides,
};

const putConfigBody = z.object({ value: z.unknown(), description: text(500).optional() }).strict();
const putRolesBody = z.object({ roles: z.array(z.enum(roles)).max(3) }).strict();
const putStatusBody = z.object({ status: z.enum(['active', 'disabled']) }).strict();
const usersQuery = z
  .object({
    search: text(255, 1).optional(),
    cursor: text(200).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
  })
  .strict();
const createKeyBody = z.object({ name: text(100, 1) }).strict();
const auditQuery = z
  .object({
    userId: uuid.optional(),
    action: text(100).optional(),
    from: z.coerce.date().optional(),
    to: z.coerce.date().optional(),
    cursor: text(200).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
  })
  .strict();

/** The caller, who must be an admin (FORBIDDEN otherwise). */
export async function requireAdmin(request: FastifyRequest, auth: Authenticator): Promise<Caller> {
  const caller = await authenticate(request, auth);
  if (caller.role !== 'admin') throw new AppError('FORBIDDEN', { message: 'admins only' });
  return caller;
}

function actor(request: FastifyRequest, caller: Caller) {
  const agent = request.headers['user-agent'];
  return { userId: caller.userId, ip: request.ip, userAgent: typeof agent === 'string' ? agent : null };
}

/** `GET|PUT /v1/admin/configs/:key`, `PUT /v1/admin/users/:id/roles|status`, `GET /v1/admin/audit-logs` (admin only, audited). */
export function registerAdminRoutes(app: FastifyInstance, options: AdminRouteOptions): void {
  app.get('/v1/admin/configs/:key', async (request) => {
    await requireAdmin(request, options.auth);
    const { key } = request.params as { key: string };
    const entry = CONFIG_KEYS[key] === undefined ? undefined : await options.configs.get(key);
    if (entry === undefined) throw new AppError('NOT_FOUND', { message: 'no such config' });
    return { config: entry };
  });

  app.put('/v1/admin/configs/:key', async (request) => {
    const caller = await requireAdmin(request, options.auth);
    const { key } = request.params as { key: string };
    const schema = CONFIG_KEYS[key];
    if (schema === undefined) throw new AppError('NOT_FOUND', { message: 'no such config key', details: { known: Object.keys(CONFIG_KEYS) } });
    const body = parseBody(putConfigBody, request.body);
    const value = parseBody(schema, body.value);
    parseBody(jsonObject, value);
    const entry = await options.configs.put(key, value, {
      updatedBy: caller.userId,
      ...(body.description === undefined ? {} : { description: body.description }),
    });
    await options.audit.record(actor(request, caller), { action: 'config.update', resourceType: 'config', resourceId: key, details: { value } });
    await options.limits.reload();
    await options.limits.announce(key);
    return { config: entry };
  });

  app.put('/v1/admin/users/:id/roles', async (request) => {
    const caller = await requireAdmin(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const body = parseBody(putRolesBody, request.body);
    // Requests carry the new role from now on; open sockets reconnect to get it.
    const updated = await options.accounts.setRoles(id, body.roles, actor(request, caller));
    return { userId: id, roles: updated };
  });

  // Disabling ends the user's sockets and every refresh family at once; their access tokens
  // are refused from the next request. Enabling lets them sign in again.
  app.put('/v1/admin/users/:id/status', async (request) => {
    const caller = await requireAdmin(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const { status } = parseBody(putStatusBody, request.body);
    await options.accounts.setStatus(id, status, actor(request, caller));
    return { userId: id, status };
  });

  app.get('/v1/admin/users', async (request) => {
    await requireAdmin(request, options.auth);
    const query = parseBody(usersQuery, request.query);
    const page = await options.users.list({
      limit: query.limit ?? 50,
      ...(query.search === undefined ? {} : { search: query.search }),
      ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
    });
    return {
      users: page.users.map((u) => ({ ...publicUser(u), status: u.status, lastLoginAt: u.lastLoginAt?.toISOString() ?? null })),
      nextCursor: page.nextCursor,
    };
  });

  // API keys of service accounts (the same as `voicehelper keys`); the key text is shown once.
  app.get('/v1/admin/keys', async (request) => {
    await requireAdmin(request, options.auth);
    const { userId } = parseBody(z.object({ userId: uuid.optional() }).strict(), request.query);
    return { keys: await options.apiKeys.list(userId) };
  });

  app.post('/v1/admin/users/:id/keys', async (request, reply) => {
    const caller = await requireAdmin(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const { name } = parseBody(createKeyBody, request.body);
    const { key, record } = await options.apiKeys.create(id, name, caller.userId);
    await options.audit.record(actor(request, caller), { action: 'api_key.create', resourceType: 'api_key', resourceId: record.id, details: { userId: id, name } });
    return reply.status(201).send({ key, apiKey: record });
  });

  app.delete('/v1/admin/keys/:id', async (request) => {
    const caller = await requireAdmin(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const record = await options.apiKeys.revoke(id);
    await options.audit.record(actor(request, caller), { action: 'api_key.revoke', resourceType: 'api_key', resourceId: id, details: { userId: record.userId } });
    return { apiKey: record };
  });

  app.get('/v1/admin/audit-logs', async (request) => {
    const caller = await requireAdmin(request, options.auth);
    const query = parseBody(auditQuery, request.query);
    const result = await options.audit.query(query);
    await options.audit.record(actor(request, caller), { action: 'audit.read', resourceType: 'audit_log', details: { filter: { ...query, cursor: undefined } } });
    return result;
  });
}
