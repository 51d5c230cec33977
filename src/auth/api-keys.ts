import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { AppError } from '../errors/app-error.js';
import { isUuid } from '../stores/messages/validate-message.js';

const FORMAT = /^vhk_([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** An API key as listed (never with its secret). */
export interface ApiKeyRecord {
  id: string;
  userId: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  user_id: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/**
 * Long-lived, revocable credentials of service accounts (ASR, LLM and TTS workers):
 * `vhk_<id>.<secret>`, shown once at creation and kept as the SHA-256 of the secret.
 * `POST /v1/auth/token { apiKey }` exchanges a key for an access token whose family is the
 * key id, so revoking the key ends those tokens and the sockets they opened.
 */
export class ApiKeyService {
  constructor(
    private readonly pool: pg.Pool,
    /** Called after a revocation committed (marks the family revoked, ends its sockets). */
    private readonly onRevoked: (keyId: string) => Promise<void> = async () => undefined,
  ) {}

  /** Creates a key for a user who holds the `service` role; returns the key text once. */
  async create(userId: string, name: string, createdBy: string | null): Promise<{ key: string; record: ApiKeyRecord }> {
    if (!isUuid(userId)) throw new AppError('NOT_FOUND', { message: 'user not found' });
    const roles = await this.pool.query<{ role_name: string }>('select role_name from user_roles where user_id = $1', [
      userId,
    ]);
    if (roles.rowCount === 0) throw new AppError('NOT_FOUND', { message: 'user not found' });
    if (!roles.rows.some((r) => r.role_name === 'service')) {
      throw new AppError('VALIDATION', {
        message: 'API keys are for service accounts: give the user the service role first',
      });
    }
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const result = await this.pool.query<ApiKeyRow>(
      `insert into api_keys (id, user_id, name, key_hash, created_by) values ($1, $2, $3, $4, $5)
       returning id, user_id, name, created_at, last_used_at, revoked_at`,
      [id, userId, name, digest(secret), createdBy],
    );
    return { key: `vhk_${id}.${secret}`, record: toRecord(result.rows[0] as ApiKeyRow) };
  }

  /** The keys of one user, or of every user; newest first. */
  async list(userId?: string): Promise<ApiKeyRecord[]> {
    const result = await this.pool.query<ApiKeyRow>(
      `select id, user_id, name, created_at, last_used_at, revoked_at from api_keys
        where $1::uuid is null or user_id = $1 order by created_at desc, id desc`,
      [userId ?? null],
    );
    return result.rows.map(toRecord);
  }

  /** Revokes a key; NOT_FOUND for an unknown one. Revoking twice is not an error. */
  async revoke(keyId: string): Promise<ApiKeyRecord> {
    if (!isUuid(keyId)) throw new AppError('NOT_FOUND', { message: 'API key not found' });
    const result = await this.pool.query<ApiKeyRow>(
      `update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1
       returning id, user_id, name, created_at, last_used_at, revoked_at`,
      [keyId],
    );
    const row = result.rows[0];
    if (row === undefined) throw new AppError('NOT_FOUND', { message: 'API key not found' });
    await this.onRevoked(keyId);
    return toRecord(row);
  }

  /**
   * The user and key id of a live key; UNAUTHORIZED for a malformed, unknown or revoked
   * one (the same answer for each, so a caller learns nothing about which).
   */
  async verify(key: string): Promise<{ userId: string; keyId: string }> {
    const match = FORMAT.exec(key);
    const unauthorized = new AppError('UNAUTHORIZED', { message: 'the API key is invalid or revoked' });
    if (match === null || !isUuid(match[1] as string)) throw unauthorized;
    const [, id, secret] = match as unknown as [string, string, string];
    const result = await this.pool.query<{ user_id: string; key_hash: Buffer; revoked: boolean }>(
      'select user_id, key_hash, revoked_at is not null as revoked from api_keys where id = $1',
      [id],
    );
    const row = result.rows[0];
    if (row === undefined || row.revoked || !timingSafeEqual(row.key_hash, digest(secret))) throw unauthorized;
    await this.pool.query('update api_keys set last_used_at = now() where id = $1', [id]);
    return { userId: row.user_id, keyId: id };
  }

  /** True when the id is a key that was revoked (the access tokens it gave are void). */
  async isRevoked(keyId: string): Promise<boolean> {
    if (!isUuid(keyId)) return false;
    const result = await this.pool.query('select 1 from api_keys where id = $1 and revoked_at is not null', [keyId]);
    return (result.rowCount ?? 0) > 0;
  }
}
