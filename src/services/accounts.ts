import type { Role } from '../../protocol/roles.js';
import { ApiKeyService } from '../auth/api-keys.js';
import { RefreshTokenService } from '../auth/refresh-tokens.js';
import { RevokedFamilies } from '../auth/revoked-families.js';
import { TokenService } from '../auth/tokens.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import type { Actor } from '../stores/postgres/repositories/audit.js';
import type { Stores } from '../stores/stores.js';
import { FollowUps } from '../util/follow-ups.js';
import { loadOrCreateSecret } from '../util/local-secrets.js';
import { Disconnector } from './disconnector.js';
import { Erasure } from './erasure.js';
import { SessionService } from './session-service.js';
import { UserDirectory } from './user-directory.js';

/**
 * Who may do what, and what ends access: tokens, refresh families, API keys, the user
 * directory, sessions and erasure, wired the same way in a node and in the operators' CLI
 * (where a revocation reaches the nodes through the shared cache and pub/sub).
 */
export interface Accounts {
  readonly tokens: TokenService;
  readonly families: RevokedFamilies;
  readonly refreshTokens: RefreshTokenService;
  readonly apiKeys: ApiKeyService;
  readonly disconnector: Disconnector;
  readonly directory: UserDirectory;
  readonly sessions: SessionService;
  readonly erasure: Erasure;
  /**
   * Replaces a user's roles (`user` is kept); every node drops its copies, the user's
   * sockets reconnect to get the new role, and the change is audited. Returns the roles.
   */
  setRoles(userId: string, roles: readonly Role[], actor: Actor): Promise<Role[]>;
  /**
   * Enables or disables a user. Disabling ends their sockets (told `disabled`) and then
   * every login, on every node; the change is audited.
   */
  setStatus(userId: string, status: 'active' | 'disabled', actor: Actor): Promise<void>;
  /**
   * Resolves true once the follow-ups of every change made here (announcements, cache
   * drops, revocation markers) were sent or given up, or false when `timeoutMs` passed
   * first: a process about to exit (the CLI) waits for them.
   */
  settled(timeoutMs: number): Promise<boolean>;
  /** Stops following other nodes' announcements. */
  stop(): Promise<void>;
}

export async function openAccounts(config: Config, stores: Stores, logger: Logger): Promise<Accounts> {
  const jwtSecret = config.jwtSecret ?? (await loadOrCreateSecret(config.dataDir, 'jwt-secret'));
  const tokens = new TokenService(jwtSecret, config.tokens.accessTtlSeconds);
  const disconnector = new Disconnector(stores.pubsub, logger);
  const followUps = new FollowUps();
  // A family is a login (refresh tokens) or an API key: revoked either way, its access
  // tokens and sockets end.
  const families = new RevokedFamilies(
    stores.cache,
    async (familyId) => (await refreshTokens.isFamilyRevoked(familyId)) || (await apiKeys.isRevoked(familyId)),
    config.tokens.accessTtlSeconds,
    followUps,
    logger,
  );
  const endFamily = async (familyId: string) => {
    families.revoke(familyId);
    await disconnector.family(familyId);
  };
  const refreshTokens: RefreshTokenService = new RefreshTokenService(
    stores.db.refreshTokens,
    config.tokens.refreshTtlSeconds,
    endFamily,
  );
  const apiKeys: ApiKeyService = new ApiKeyService(stores.db.apiKeys, stores.db.users, endFamily);
  const sessions = new SessionService(stores.db.sessions, stores.cache, stores.db.audit, stores.pubsub);
  await sessions.start();
  const directory = new UserDirectory(stores.db.users, stores.cache, stores.pubsub, followUps, logger);
  await directory.start();
  // Sockets first, so that they are told why (ending the logins would say `logged_out`).
  const endAccess = async (userId: string) => {
    await disconnector.user(userId, 'disabled');
    await refreshTokens.revokeUser(userId);
  };
  const erasure = new Erasure({
    db: stores.db,
    objects: stores.objects,
    vectors: stores.vectors,
    graph: stores.graph,
    locks: stores.locks,
    sessions,
    revokeCredentials: async (userId) => {
      await endAccess(userId);
      for (const key of await apiKeys.list(userId)) if (key.revokedAt === null) await apiKeys.revoke(key.id);
    },
    userChanged: (userId, version) => directory.changed(userId, version),
    logger,
  });
  return {
    tokens,
    families,
    refreshTokens,
    apiKeys,
    disconnector,
    directory,
    sessions,
    erasure,
    async setRoles(userId, roles, actor) {
      const { roles: updated, version } = await stores.db.users.setRoles(userId, roles, actor.userId);
      // Committed: what follows never fails the change (retried in the background, and the
      // privilege sweep ends any socket a lost broadcast missed).
      directory.changed(userId, version);
      await disconnector.user(userId, 'role_changed');
      await stores.db.audit.record(actor, {
        action: 'user.roles',
        resourceType: 'user',
        resourceId: userId,
        details: { roles: updated },
      });
      return updated;
    },
    async setStatus(userId, status, actor) {
      const { version } = await stores.db.users.setStatus(userId, status);
      directory.changed(userId, version);
      if (status === 'disabled') await endAccess(userId);
      await stores.db.audit.record(actor, {
        action: 'user.status',
        resourceType: 'user',
        resourceId: userId,
        details: { status },
      });
    },
    settled(timeoutMs) {
      return followUps.settled(timeoutMs);
    },
    async stop() {
      await directory.stop();
      await sessions.stop();
    },
  };
}
