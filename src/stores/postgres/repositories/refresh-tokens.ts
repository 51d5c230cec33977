import type pg from 'pg';
import { withTransaction } from '../transaction.js';

/** A token row to insert: the secret only as its hash. */
export interface NewRefreshToken {
  id: string;
  userId: string;
  familyId: string;
  hash: Buffer;
  ttlSeconds: number;
}

/** What presenting a refresh token for rotation came to. */
export type Rotation =
  /** Unknown, the wrong secret, or expired: nothing changed. */
  | { outcome: 'refused' }
  /** Already used: its whole family is now revoked. */
  | { outcome: 'reused'; familyId: string }
  /** Replaced by the new token. */
  | { outcome: 'rotated'; userId: string; familyId: string };

/** Refresh tokens and their families (table `refresh_tokens`); the service owns their format and secrets. */
export class RefreshTokenRepository {
  constructor(private readonly pool: pg.Pool) {}

  async insert(token: NewRefreshToken, db: pg.Pool | pg.PoolClient = this.pool): Promise<void> {
    await db.query(
      `insert into refresh_tokens (id, user_id, family_id, token_hash, expires_at)
       values ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
      [token.id, token.userId, token.familyId, token.hash, token.ttlSeconds],
    );
  }

  /**
   * In one transaction, with the token's row locked: a live token whose kept hash
   * `presented` accepts is revoked and replaced by `next` (of its family and user); a revoked one revokes its
   * whole family.
   */
  async rotate(
    id: string,
    presented: (keptHash: Buffer) => boolean,
    next: Omit<NewRefreshToken, 'userId' | 'familyId'>,
  ): Promise<Rotation> {
    return withTransaction(this.pool, async (client) => {
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
      if (row === undefined || !presented(row.token_hash)) return { outcome: 'refused' };
      if (row.revoked) {
        await client.query('update refresh_tokens set revoked_at = coalesce(revoked_at, now()) where family_id = $1', [
          row.family_id,
        ]);
        return { outcome: 'reused', familyId: row.family_id };
      }
      if (row.expired) return { outcome: 'refused' };
      await this.insert({ ...next, userId: row.user_id, familyId: row.family_id }, client);
      await client.query('update refresh_tokens set revoked_at = now(), replaced_by = $2 where id = $1', [id, next.id]);
      return { outcome: 'rotated', userId: row.user_id, familyId: row.family_id };
    });
  }

  /** Revokes the family of the token with this id and hash; undefined when there is none. */
  async revokeFamilyOf(id: string, hash: Buffer): Promise<{ userId: string; familyId: string } | undefined> {
    const result = await this.pool.query<{ user_id: string; family_id: string }>(
      `update refresh_tokens set revoked_at = coalesce(revoked_at, now())
        where family_id = (select family_id from refresh_tokens where id = $1 and token_hash = $2)
        returning user_id, family_id`,
      [id, hash],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { userId: row.user_id, familyId: row.family_id };
  }

  /** Revokes every live token of a user; returns the families that had one. */
  async revokeUser(userId: string): Promise<string[]> {
    const result = await this.pool.query<{ family_id: string }>(
      `update refresh_tokens set revoked_at = now()
        where user_id = $1 and revoked_at is null
        returning family_id`,
      [userId],
    );
    return [...new Set(result.rows.map((r) => r.family_id))];
  }

  /** Deletes tokens expired more than a day ago; returns how many. */
  async deleteExpired(): Promise<number> {
    const result = await this.pool.query("delete from refresh_tokens where expires_at < now() - interval '1 day'");
    return result.rowCount ?? 0;
  }

  /** True when some token of the family is revoked without having been replaced. */
  async isFamilyRevoked(familyId: string): Promise<boolean> {
    const result = await this.pool.query(
      'select 1 from refresh_tokens where family_id = $1 and revoked_at is not null and replaced_by is null limit 1',
      [familyId],
    );
    return (result.rowCount ?? 0) > 0;
  }
}
