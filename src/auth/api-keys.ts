import { randomUUID } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { isUuid } from '../stores/messages/validate-message.js';
import type { ApiKeyRecord, ApiKeyRepository } from '../stores/postgres/repositories/api-keys.js';
import type { UserRepository } from '../stores/postgres/repositories/users.js';
import { digest, matches, newSecret, parseCredential } from './secrets.js';

export type { ApiKeyRecord } from '../stores/postgres/repositories/api-keys.js';

const FORMAT = /^vhk_([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

/**
 * Long-lived, revocable credentials of service accounts (ASR, LLM and TTS workers):
 * `vhk_<id>.<secret>`, shown once at creation and kept as the SHA-256 of the secret.
 * `POST /v1/auth/token { apiKey }` exchanges a key for an access token whose family is the
 * key id, so revoking the key ends those tokens and the sockets they opened.
 */
export class ApiKeyService {
  constructor(
    private readonly keys: ApiKeyRepository,
    private readonly users: UserRepository,
    /** Called after a revocation committed (marks the family revoked, ends its sockets). */
    private readonly onRevoked: (keyId: string) => Promise<void> = async () => undefined,
  ) {}

  /** Creates a key for a user who holds the `service` role; returns the key text once. */
  async create(userId: string, name: string, createdBy: string | null): Promise<{ key: string; record: ApiKeyRecord }> {
    if (!isUuid(userId)) throw new AppError('NOT_FOUND', { message: 'user not found' });
    const user = await this.users.getById(userId);
    if (user === undefined) throw new AppError('NOT_FOUND', { message: 'user not found' });
    if (!user.roles.includes('service')) {
      throw new AppError('VALIDATION', {
        message: 'API keys are for service accounts: give the user the service role first',
      });
    }
    const id = randomUUID();
    const secret = newSecret();
    const record = await this.keys.create({ id, userId, name, hash: digest(secret), createdBy });
    return { key: `vhk_${id}.${secret}`, record };
  }

  /** The keys of one user, or of every user; newest first. */
  list(userId?: string): Promise<ApiKeyRecord[]> {
    return this.keys.list(userId);
  }

  /** Revokes a key; NOT_FOUND for an unknown one. Revoking twice is not an error. */
  async revoke(keyId: string): Promise<ApiKeyRecord> {
    if (!isUuid(keyId)) throw new AppError('NOT_FOUND', { message: 'API key not found' });
    const record = await this.keys.revoke(keyId);
    if (record === undefined) throw new AppError('NOT_FOUND', { message: 'API key not found' });
    await this.onRevoked(keyId);
    return record;
  }

  /**
   * The user and key id of a live key; UNAUTHORIZED for a malformed, unknown or revoked
   * one (the same answer for each, so a caller learns nothing about which).
   */
  async verify(key: string): Promise<{ userId: string; keyId: string }> {
    const unauthorized = new AppError('UNAUTHORIZED', { message: 'the API key is invalid or revoked' });
    const parsed = parseCredential(FORMAT, key);
    if (parsed === undefined) throw unauthorized;
    const found = await this.keys.find(parsed.id);
    if (found === undefined || found.revoked || !matches(parsed.secret, found.hash)) throw unauthorized;
    await this.keys.touch(parsed.id);
    return { userId: found.userId, keyId: parsed.id };
  }

  /** True when the id is a key that was revoked (the access tokens it gave are void). */
  async isRevoked(keyId: string): Promise<boolean> {
    return isUuid(keyId) && (await this.keys.isRevoked(keyId));
  }
}
