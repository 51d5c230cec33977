import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  type ApiKeyTokenResponse,
  type AuthResponse,
  apiKeyTokenBody,
  apiKeyTokenResponseModel,
  authResponseModel,
  changePasswordBody,
  deleteAccountBody,
  loginBody,
  type PublicUser,
  refreshBody,
  registerBody,
} from '../../protocol/http.js';
import type { ApiKeyService } from '../auth/api-keys.js';
import type { Passwords } from '../auth/passwords.js';
import type { IssuedRefreshToken, RefreshTokenService } from '../auth/refresh-tokens.js';
import type { TokenService } from '../auth/tokens.js';
import { AppError } from '../errors/app-error.js';
import type { Erasure } from '../services/erasure.js';
import type { RateLimits } from '../services/rate-limits.js';
import type { UserDirectory } from '../services/user-directory.js';
import type { AuditLog } from '../stores/postgres/repositories/audit.js';
import { primaryRole, type UserRecord, type UserRepository } from '../stores/postgres/repositories/users.js';
import { bearer, noContent, responses } from './api-docs.js';
import { actorOf, callerOf, signedIn } from './caller.js';

/** What the auth routes need. */
export interface AuthRouteOptions {
  users: UserRepository;
  audit: AuditLog;
  tokens: TokenService;
  refreshTokens: RefreshTokenService;
  limits: RateLimits;
  passwords: Passwords;
  apiKeys: ApiKeyService;
  directory: UserDirectory;
  erasure: Erasure;
}

export function publicUser(user: UserRecord): PublicUser {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    roles: user.roles,
    createdAt: user.createdAt.toISOString(),
  };
}

/**
 * `POST /v1/auth/register|login|refresh|logout` (PROTOCOL section 7), `POST /v1/auth/token`
 * for API keys, and the caller's own account: `PUT /v1/users/me/password`, `DELETE /v1/users/me`.
 */
export function registerAuthRoutes(http: FastifyInstance, options: AuthRouteOptions): void {
  const { users, audit, tokens, refreshTokens, limits, passwords, apiKeys } = options;
  const app = http.withTypeProvider<ZodTypeProvider>();
  const tags = ['auth'];

  // The access token names the refresh family it came with, so that logging out of that
  // family ends it (and the sockets opened with it) at once.
  const issue = async (user: UserRecord, rotated?: IssuedRefreshToken): Promise<AuthResponse> => {
    const { refreshToken, familyId } = rotated ?? (await refreshTokens.issue(user.id));
    return {
      user: publicUser(user),
      accessToken: await tokens.sign({ userId: user.id, role: primaryRole(user.roles), family: familyId }),
      expiresIn: tokens.ttlSeconds,
      refreshToken,
    };
  };

  // A signed-in user's password, asked again: counted in the login windows of the account
  // (429 past them), INVALID_CREDENTIALS (after `onWrong`) when wrong.
  const checkPassword = async (
    ip: string,
    userId: string,
    password: string,
    onWrong: () => Promise<void>,
  ): Promise<UserRecord> => {
    const user = await users.getById(userId);
    if (user === undefined) throw new AppError('UNAUTHORIZED', { message: 'unauthorized' });
    await limits.checkLogin(ip, user.email);
    if (!(await passwords.verify(user.passwordHash, password))) {
      await onWrong();
      throw new AppError('INVALID_CREDENTIALS');
    }
    await limits.signedIn(user.email);
    return user;
  };

  app.post(
    '/v1/auth/register',
    {
      schema: {
        tags,
        summary: 'Create an account and sign in',
        body: registerBody,
        response: responses({ 201: authResponseModel }),
      },
    },
    async (request, reply) => {
      const body = request.body;
      await limits.checkRegister(request.ip);
      const user = await users.create({
        email: body.email,
        username: body.username,
        passwordHash: await passwords.hash(body.password),
      });
      await audit.record(actorOf(request, user.id), {
        action: 'auth.register',
        resourceType: 'user',
        resourceId: user.id,
      });
      return reply.status(201).send(await issue(user));
    },
  );

  app.post(
    '/v1/auth/login',
    {
      schema: {
        tags,
        summary: 'Sign in with email and password',
        body: loginBody,
        response: responses({ 200: authResponseModel }),
      },
    },
    async (request) => {
      const body = request.body;
      await limits.checkLogin(request.ip, body.email);
      const user = await users.getByEmail(body.email);
      const ok = await passwords.verify(user?.passwordHash, body.password);
      if (user === undefined || !ok || user.status !== 'active') {
        await audit.record(actorOf(request, user?.id ?? null), {
          action: 'auth.login_failed',
          resourceType: 'user',
          resourceId: user?.id ?? null,
          details: { reason: user === undefined ? 'unknown_email' : ok ? 'disabled' : 'wrong_password' },
        });
        throw new AppError('INVALID_CREDENTIALS');
      }
      await limits.signedIn(body.email);
      await users.touchLogin(user.id);
      await audit.record(actorOf(request, user.id), {
        action: 'auth.login',
        resourceType: 'user',
        resourceId: user.id,
      });
      return issue(user);
    },
  );

  // A new access token (with the user's current roles) and a new refresh token; the one
  // presented is used up. Disabled users cannot refresh.
  app.post(
    '/v1/auth/refresh',
    {
      schema: {
        tags,
        summary: 'A new access token for a single-use refresh token',
        body: refreshBody,
        response: responses({ 200: authResponseModel }),
      },
    },
    async (request) => {
      const body = request.body;
      await limits.checkRefresh(request.ip);
      const { userId, ...rotated } = await refreshTokens.rotate(body.refreshToken);
      const user = await users.getById(userId);
      if (user === undefined || user.status !== 'active') {
        await refreshTokens.revoke(rotated.refreshToken);
        throw new AppError('UNAUTHORIZED', { message: 'the account is not active' });
      }
      return issue(user, rotated);
    },
  );

  // A service account's API key for a short-lived access token; the token's family is the
  // key, so revoking the key ends it (and its sockets) at once. The token acts as `service`
  // only, whatever else the account holds: a worker's key is no admin's credential.
  // Counted like a login, per address.
  app.post(
    '/v1/auth/token',
    {
      schema: {
        tags,
        summary: "An access token for a service account's API key",
        body: apiKeyTokenBody,
        response: responses({ 200: apiKeyTokenResponseModel }),
      },
    },
    async (request): Promise<ApiKeyTokenResponse> => {
      const body = request.body;
      // Per address and key (a fleet of workers behind one address each has its own window).
      await limits.checkKeyExchange(request.ip, `api-key:${body.apiKey.slice(0, 40)}`);
      let verified: { userId: string; keyId: string };
      try {
        verified = await apiKeys.verify(body.apiKey);
      } catch (error) {
        await audit.record(actorOf(request, null), { action: 'auth.api_key_failed', resourceType: 'api_key' });
        throw error;
      }
      const user = await users.getById(verified.userId);
      if (user === undefined || user.status !== 'active' || !user.roles.includes('service')) {
        throw new AppError('UNAUTHORIZED', { message: 'the API key is invalid or revoked' });
      }
      return {
        user: publicUser(user),
        accessToken: await tokens.sign({ userId: user.id, role: 'service', family: verified.keyId, kind: 'api_key' }),
        expiresIn: tokens.ttlSeconds,
      };
    },
  );

  // A new password ends every login of the account (other devices included) and starts a
  // fresh one for the caller. The current password is an attempt at the account's password
  // like a login, counted in the same windows: a stolen access token guesses no faster here.
  app.put(
    '/v1/users/me/password',
    {
      config: signedIn,
      schema: {
        tags,
        summary: "Change one's password (ends every other login)",
        security: bearer,
        body: changePasswordBody,
        response: responses({ 200: authResponseModel }),
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const body = request.body;
      const user = await checkPassword(request.ip, caller.userId, body.currentPassword, async () => {
        await audit.record(actorOf(request, caller.userId), {
          action: 'user.password_failed',
          resourceType: 'user',
          resourceId: caller.userId,
        });
      });
      const { version } = await users.setPasswordHash(user.id, await passwords.hash(body.newPassword));
      options.directory.changed(user.id, version);
      await refreshTokens.revokeUser(user.id);
      await audit.record(actorOf(request, user.id), {
        action: 'user.password',
        resourceType: 'user',
        resourceId: user.id,
      });
      return issue(user);
    },
  );

  // Deleting one's own account forgets the user in every store (the same path as
  // `voicehelper users forget`); the password is asked again (counted like a login).
  app.delete(
    '/v1/users/me',
    {
      config: signedIn,
      schema: {
        tags,
        summary: "Delete one's own account from every store",
        security: bearer,
        body: deleteAccountBody,
        response: responses({ 200: z.object({ erasure: z.unknown() }) }),
      },
    },
    async (request) => {
      const caller = callerOf(request);
      const user = await checkPassword(request.ip, caller.userId, request.body.password, async () => undefined);
      const erasure = await options.erasure.forgetUser(user.id, actorOf(request, user.id));
      return { erasure };
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      schema: {
        tags,
        summary: 'End the refresh family of a token (and its sockets)',
        body: refreshBody,
        response: responses({ 204: noContent }),
      },
    },
    async (request, reply) => {
      const body = request.body;
      await limits.checkRefresh(request.ip);
      // Revoking the family also ends its access tokens and the sockets they opened (every node).
      const revoked = await refreshTokens.revoke(body.refreshToken);
      if (revoked !== undefined) {
        await audit.record(actorOf(request, revoked.userId), {
          action: 'auth.logout',
          resourceType: 'user',
          resourceId: revoked.userId,
        });
      }
      return reply.status(204).send(null);
    },
  );
}
