import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { AppError } from '../errors/app-error.js';
import { isUuid } from '../stores/messages/validate-message.js';
import { abandon } from '../stores/postgres/transaction.js';

const FORMAT = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function unauthorized(): AppError {
  return new AppError('UNAUTHORIZED', { message: 'the refresh token is invalid or has expired' });
}

/** A refresh token and the family it belongs to (access tokens issued with it name the family). */
export interface IssuedRefreshToken {
  refreshToken: string;
  familyId: string;
}

/**
 * Long-lived, single-use refresh tokens (`<id>.<secret>`), kept in PostgreSQL as a hash.
 * Rotating a token replaces it; presenting a replaced token again revokes its family.
 * Every revoked family (logout, reuse, a disabled user) is passed to `onRevoked` after the
 * commit, which ends what the family opened (sockets, access tokens).
 */
export class RefreshTokenService {
  constructor(
    private readonly pool: pg.Pool,
    /** Lifetime in seconds. */
    private readonly ttlSeconds: number,
    private readonly onRevoked: (familyId: string) => Promise<void> = async () => undefined,
  ) {}

  /** Starts a new family for a fresh login. */
  async issue(userId: string): Promise<IssuedRefreshToken> {
    const familyId = randomUUID();
    return { refreshToken: await this.insert(this.pool, userId, familyId), familyId };
  }

  /**
   * Exchanges a refresh token for a new one of the same family and returns the user id.
   * UNAUTHORIZED for a malformed, unknown, expired or revoked token; a revoked (already
   * used) token also revokes every token of its family.
   */
  async rotate(token: string): Promise<IssuedRefreshToken & { userId: string }> {
    const match = FORMAT.exec(token);
    if (match === null || !isUuid(match[1] as string)) throw unauthorized();
    const [, id, secret] = match as unknown as [string, string, string];
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const found = await client.query<{
        user_id: string;
        family_id: string;
        token_hash: Buffer;
        expired: boolean;
        revoked: boolean;
      }>(
        `select user_id, family_id, token_hash, expires_at <= now() as expired, revoked_at is not null as revoked
           from refresh_tokens where id = $1 for update`,
        [id],
      );
      const row = found.rows[0];
      if (row === undefined || !timingSafeEqual(row.token_hash, digest(secret))) {
        await client.query('rollback');
        throw unauthorized();
      }
      if (row.revoked) {
        await client.query('update refresh_tokens set revoked_at = coalesce(revoked_at, now()) where family_id = $1', [
          row.family_id,
        ]);
        await client.query('commit');
        await this.onRevoked(row.family_id);
        throw unauthorized();
      }
      if (row.expired) {
        await client.query('rollback');
        throw unauthorized();
      }
      const next = await this.insert(client, row.user_id, row.family_id);
      await client.query('update refresh_tokens set revoked_at = now(), replaced_by = $2 where id = $1', [
        id,
        next.split('.')[0],
      ]);
      await client.query('commit');
      client.release();
      return { userId: row.user_id, refreshToken: next, familyId: row.family_id };
    } catch (error) {
      if (error instanceof AppError) client.release();
      else await abandon(client, error);
      throw error;
    }
  }

  /** Revokes the token's whole family (logout) and returns its user and family; unknown tokens are ignored. */
  async revoke(token: string): Promise<{ userId: string; familyId: string } | undefined> {
    const match = FORMAT.exec(token);
    if (match === null || !isUuid(match[1] as string)) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const result = await this.pool.query<{ user_id: string; family_id: string }>(
      `update refresh_tokens set revoked_at = coalesce(revoked_at, now())
        where family_id = (select family_id from refresh_tokens where id = $1 and token_hash = $2)
        returning user_id, family_id`,
      [id, digest(secret)],
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    await this.onRevoked(row.family_id);
    return { userId: row.user_id, familyId: row.family_id };
  }

  /** Revokes every live family of a user (the account was disabled). */
  async revokeUser(userId: string): Promise<void> {
    if (!isUuid(userId)) return;
    const result = await this.pool.query<{ family_id: string }>(
      `update refresh_tokens set revoked_at = now()
        where user_id = $1 and revoked_at is null
        returning family_id`,
      [userId],
    );
    for (const familyId of new Set(result.rows.map((r) => r.family_id))) await this.onRevoked(familyId);
  }

  /** Deletes tokens expired more than a day ago (nothing can use them); returns how many. */
  async sweepExpired(): Promise<number> {
    const result = await this.pool.query("delete from refresh_tokens where expires_at < now() - interval '1 day'");
    return result.rowCount ?? 0;
  }

  /**
   * True when the family was revoked as a whole (logout, reuse, a disabled user), not just
   * rotated: some token of it is revoked without having been replaced.
   */
  async isFamilyRevoked(familyId: string): Promise<boolean> {
    if (!isUuid(familyId)) return true;
    const result = await this.pool.query(
      'select 1 from refresh_tokens where family_id = $1 and revoked_at is not null and replaced_by is null limit 1',
      [familyId],
    );
    return (result.rowCount ?? 0) > 0;
  }

  private async insert(db: pg.Pool | pg.PoolClient, userId: string, familyId: string): Promise<string> {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    await db.query(
      `insert into refresh_tokens (id, user_id, family_id, token_hash, expires_at)
       values ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
      [id, userId, familyId, digest(secret), this.ttlSeconds],
    );
    return `${id}.${secret}`;
  }
}
