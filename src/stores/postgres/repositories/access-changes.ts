import type pg from 'pg';
import { isUuid } from '../../messages/validate-message.js';

/** What changed in who may do what, as one read of PostgreSQL saw it. */
export interface AccessChanges {
  /** The database's time of the read: every change committed before it is included. */
  readAt: Date;
  /** Users whose roles, status or password changed, at their version now (never-changed users are left out). */
  users: { id: string; version: number }[];
  /** Users being forgotten or forgotten (the account goes, or went, with its credentials). */
  erased: string[];
  /** Refresh-token families revoked as a whole (logout, reuse, a disabled user) and revoked API keys. */
  families: string[];
}

/**
 * Changes of access made by any node or by the CLI (tables `users`, `user_erasures`,
 * `refresh_tokens`, `api_keys`), for nodes that were not told of them or may have missed
 * being told: the privilege sweep.
 */
export class AccessChangeRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * What changed at or after `since`, or in the last `lookbackSeconds` when `since` is
   * undefined (the first read). Times are the writers' transaction starts: a change still
   * being committed at the read is dated before `readAt`, so the next read must start
   * earlier than `readAt` by the longest such transaction.
   */
  async since(since: Date | undefined, lookbackSeconds: number): Promise<AccessChanges> {
    const result = await this.pool.query<{
      read_at: Date;
      users: [string, number][];
      erased: string[];
      families: string[];
    }>(
      `select now() as read_at,
              coalesce((select json_agg(json_build_array(u.id, u.version)) from users u
                         where u.updated_at >= s.at and u.version > 1), '[]') as users,
              coalesce((select json_agg(e.user_id) from user_erasures e where e.started_at >= s.at), '[]') as erased,
              coalesce((select json_agg(f.id) from (
                         select distinct r.family_id as id from refresh_tokens r
                          where r.revoked_at is not null and r.replaced_by is null and r.revoked_at >= s.at
                         union
                         select k.id from api_keys k where k.revoked_at is not null and k.revoked_at >= s.at
                       ) f), '[]') as families
         from (select coalesce($1::timestamptz, now() - make_interval(secs => $2)) as at) s`,
      [since ?? null, lookbackSeconds],
    );
    const row = result.rows[0] as (typeof result.rows)[number];
    return {
      readAt: row.read_at,
      users: row.users.map(([id, version]) => ({ id, version: Number(version) })),
      erased: row.erased,
      families: row.families,
    };
  }

  /** Which of these families (refresh-token families or API keys) are revoked now. */
  async revokedAmong(familyIds: readonly string[]): Promise<Set<string>> {
    const ids = [...new Set(familyIds)].filter(isUuid);
    if (ids.length === 0) return new Set();
    const result = await this.pool.query<{ id: string }>(
      `select distinct r.family_id as id from refresh_tokens r
        where r.family_id = any($1::uuid[]) and r.revoked_at is not null and r.replaced_by is null
       union
       select k.id from api_keys k where k.id = any($1::uuid[]) and k.revoked_at is not null`,
      [ids],
    );
    return new Set(result.rows.map((r) => r.id));
  }
}
