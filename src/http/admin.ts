import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { roles } from '../../protocol/roles.js';
import { jsonObject, text, uuid } from '../../protocol/schemas.js';
import type { ApiKeyService } from '../auth/api-keys.js';
import { AppError } from '../errors/app-error.js';
import { validated } from '../errors/validation.js';
import type { Accounts } from '../services/accounts.js';
import { RATE_LIMITS_KEY, type RateLimits, rateLimitOverrides } from '../services/rate-limits.js';
import type { AuditLog } from '../stores/postgres/repositories/audit.js';
import type { ConfigRepository } from '../stores/postgres/repositories/configs.js';
import type { UserRepository } from '../stores/postgres/repositories/users.js';
import { bearer, responses } from './api-docs.js';
import { publicUser } from './auth.js';
import { actorOf, adminOnly, callerOf } from './caller.js';

/** What the admin routes need. */
export interface AdminRouteOptions {
  configs: ConfigRepository;
  users: UserRepository;
  audit: AuditLog;
  limits: RateLimits;
  apiKeys: ApiKeyService;
  /** Role and status changes, shared with the CLI. */
  accounts: Pick<Accounts, 'setRoles' | 'setStatus'>;
}

/** The config keys an admin may set, each with the schema of its value. */
const CONFIG_KEYS: Record<string, z.ZodType> = {
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

/** `GET|PUT /v1/admin/configs/:key`, `PUT /v1/admin/users/:id/roles|status`, `GET /v1/admin/audit-logs` (admin only, audited). */
export function registerAdminRoutes(http: FastifyInstance, options: AdminRouteOptions): void {
  const app = http.withTypeProvider<ZodTypeProvider>();
  const docs = (summary: string) => ({ tags: ['admin'], summary, security: bearer, response: responses() });
  const idParams = z.object({ id: uuid });
  const keyParams = z.object({ key: z.string().max(200) });

  app.get(
    '/v1/admin/configs/:key',
    { config: adminOnly, schema: { ...docs('A runtime setting'), params: keyParams } },
    async (request) => {
      const { key } = request.params;
      const entry = CONFIG_KEYS[key] === undefined ? undefined : await options.configs.get(key);
      if (entry === undefined) throw new AppError('NOT_FOUND', { message: 'no such config' });
      return { config: entry };
    },
  );

  app.put(
    '/v1/admin/configs/:key',
    {
      config: adminOnly,
      schema: {
        ...docs(`Change a runtime setting (known keys: ${Object.keys(CONFIG_KEYS).join(', ')})`),
        params: keyParams,
        body: putConfigBody,
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const { key } = request.params;
      const schema = CONFIG_KEYS[key];
      if (schema === undefined)
        throw new AppError('NOT_FOUND', {
          message: 'no such config key',
          details: { known: Object.keys(CONFIG_KEYS) },
        });
      // The value's schema depends on the key in the path.
      const value = validated(schema, request.body.value);
      validated(jsonObject, value);
      const entry = await options.configs.put(key, value, {
        updatedBy: caller.userId,
        ...(request.body.description === undefined ? {} : { description: request.body.description }),
      });
      await options.audit.record(actorOf(request, caller.userId), {
        action: 'config.update',
        resourceType: 'config',
        resourceId: key,
        details: { value },
      });
      await options.limits.reload();
      await options.limits.announce(key);
      return { config: entry };
    },
  );

  app.put(
    '/v1/admin/users/:id/roles',
    { config: adminOnly, schema: { ...docs("Set a user's roles"), params: idParams, body: putRolesBody } },
    async (request) => {
      const { id } = request.params;
      // Requests carry the new role from now on; open sockets reconnect to get it.
      const updated = await options.accounts.setRoles(
        id,
        request.body.roles,
        actorOf(request, callerOf(request).userId),
      );
      return { userId: id, roles: updated };
    },
  );

  // Disabling ends the user's sockets and every refresh family at once; their access tokens
  // are refused from the next request. Enabling lets them sign in again.
  app.put(
    '/v1/admin/users/:id/status',
    { config: adminOnly, schema: { ...docs('Disable or enable a user'), params: idParams, body: putStatusBody } },
    async (request) => {
      const { id } = request.params;
      const { status } = request.body;
      await options.accounts.setStatus(id, status, actorOf(request, callerOf(request).userId));
      return { userId: id, status };
    },
  );

  app.get(
    '/v1/admin/users',
    { config: adminOnly, schema: { ...docs('Users, by email or name'), querystring: usersQuery } },
    async (request) => {
      const query = request.query;
      const page = await options.users.list({
        limit: query.limit ?? 50,
        ...(query.search === undefined ? {} : { search: query.search }),
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
      return {
        users: page.users.map((u) => ({
          ...publicUser(u),
          status: u.status,
          lastLoginAt: u.lastLoginAt?.toISOString() ?? null,
        })),
        nextCursor: page.nextCursor,
      };
    },
  );

  // API keys of service accounts (the same as `voicehelper keys`); the key text is shown once.
  app.get(
    '/v1/admin/keys',
    {
      config: adminOnly,
      schema: { ...docs('API keys of service accounts'), querystring: z.object({ userId: uuid.optional() }).strict() },
    },
    async (request) => ({ keys: await options.apiKeys.list(request.query.userId) }),
  );

  app.post(
    '/v1/admin/users/:id/keys',
    {
      config: adminOnly,
      schema: {
        ...docs('Give a service account an API key (its text is shown once)'),
        params: idParams,
        body: createKeyBody,
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      const { id } = request.params;
      const { name } = request.body;
      const { key, record } = await options.apiKeys.create(id, name, caller.userId);
      await options.audit.record(actorOf(request, caller.userId), {
        action: 'api_key.create',
        resourceType: 'api_key',
        resourceId: record.id,
        details: { userId: id, name },
      });
      return reply.status(201).send({ key, apiKey: record });
    },
  );

  app.delete(
    '/v1/admin/keys/:id',
    { config: adminOnly, schema: { ...docs('Revoke an API key (its sockets end)'), params: idParams } },
    async (request) => {
      const { id } = request.params;
      const record = await options.apiKeys.revoke(id);
      await options.audit.record(actorOf(request, callerOf(request).userId), {
        action: 'api_key.revoke',
        resourceType: 'api_key',
        resourceId: id,
        details: { userId: record.userId },
      });
      return { apiKey: record };
    },
  );

  app.get(
    '/v1/admin/audit-logs',
    { config: adminOnly, schema: { ...docs('The audit log, newest first'), querystring: auditQuery } },
    async (request) => {
      const query = request.query;
      const result = await options.audit.query(query);
      await options.audit.record(actorOf(request, callerOf(request).userId), {
        action: 'audit.read',
        resourceType: 'audit_log',
        details: { filter: { ...query, cursor: undefined } },
      });
      return result;
    },
  );
}
