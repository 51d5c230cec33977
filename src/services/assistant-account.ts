import { randomBytes } from 'node:crypto';
import type { ApiKeyService } from '../auth/api-keys.js';
import type { Passwords } from '../auth/passwords.js';
import { hasReason } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { Actor, AuditLog } from '../stores/postgres/repositories/audit.js';
import type { UserRecord, UserRepository } from '../stores/postgres/repositories/users.js';

/** The service account of the assistant a node starts (`.invalid`: a name no mail reaches, RFC 2606). */
export const ASSISTANT_EMAIL = 'assistant@voicehelper.invalid';

/** What the names of the keys a node makes for its assistant start with. */
const KEY_PREFIX = 'started by node ';

/** Who a node's changes to the assistant's account are in the audit log. */
function nodeActor(nodeId: string): Actor {
  return { userId: null, ip: null, userAgent: `voicehelper-node (${nodeId})` };
}

/**
 * The account and key a node's assistant signs in with. At each start the node makes a
 * fresh key and revokes the ones it made before; a key no process outside holds is worth
 * nothing, and one left by a node that crashed is not left live.
 */
export class AssistantAccount {
  constructor(
    private readonly deps: {
      users: UserRepository;
      apiKeys: ApiKeyService;
      passwords: Passwords;
      audit: AuditLog;
      logger: Logger;
    },
    private readonly options: {
      /** This node, named in its keys and in the audit log. */
      nodeId: string;
      /**
       * Whether this is the only node that makes keys for the account (the embedded
       * default): then every key a node made before is revoked, else only those of this
       * node's name (other nodes' assistants keep theirs).
       */
      onlyNode: boolean;
    },
  ) {}

  /**
   * The service account, made when missing (with a random password nobody knows: it signs
   * in with keys only). Undefined, with a warning, when an operator disabled it or took its
   * service role away: the node then leaves the assistant off.
   */
  async account(): Promise<UserRecord | undefined> {
    const { users, passwords, audit, logger } = this.deps;
    let user = await users.getByEmail(ASSISTANT_EMAIL);
    if (user === undefined) {
      const passwordHash = await passwords.hash(randomBytes(32).toString('base64url'));
      try {
        user = await users.create({ email: ASSISTANT_EMAIL, username: 'assistant', passwordHash, roles: ['service'] });
        await audit.record(nodeActor(this.options.nodeId), {
          action: 'user.create',
          resourceType: 'user',
          resourceId: user.id,
          details: { roles: user.roles },
        });
        logger.info({ userId: user.id, email: ASSISTANT_EMAIL }, "created the assistant's service account");
      } catch (error) {
        // Another node made it at the same moment.
        if (!hasReason(error, 'email_taken')) throw error;
        user = await users.getByEmail(ASSISTANT_EMAIL);
        if (user === undefined) throw error;
      }
    }
    if (user.status !== 'active' || !user.roles.includes('service')) {
      logger.warn(
        { userId: user.id, status: user.status, roles: user.roles },
        `the assistant's account ${ASSISTANT_EMAIL} is disabled or not a service account; not starting the assistant`,
      );
      return undefined;
    }
    return user;
  }

  /** Revokes the keys this node (or, on the only node, any node) made before, then makes a fresh one. */
  async freshKey(user: UserRecord): Promise<{ key: string; keyId: string }> {
    const { apiKeys, audit } = this.deps;
    const name = `${KEY_PREFIX}${this.options.nodeId}`;
    const actor = nodeActor(this.options.nodeId);
    for (const old of await apiKeys.list(user.id)) {
      if (old.revokedAt !== null) continue;
      if (this.options.onlyNode ? !old.name.startsWith(KEY_PREFIX) : old.name !== name) continue;
      await this.revoke(old.id);
    }
    const { key, record } = await apiKeys.create(user.id, name, null);
    await audit.record(actor, {
      action: 'api_key.create',
      resourceType: 'api_key',
      resourceId: record.id,
      details: { userId: user.id, name },
    });
    return { key, keyId: record.id };
  }

  /** Revokes one key (the node's own, when it stops). */
  async revoke(keyId: string): Promise<void> {
    const record = await this.deps.apiKeys.revoke(keyId);
    await this.deps.audit.record(nodeActor(this.options.nodeId), {
      action: 'api_key.revoke',
      resourceType: 'api_key',
      resourceId: keyId,
      details: { userId: record.userId },
    });
  }
}
