import type pg from 'pg';
import type { Role } from '../../../../protocol/roles.js';
import { AppError } from '../../../errors/app-error.js';
import { isUuid } from '../../messages/validate-message.js';
import { cursorAt, decodeCursor, encodeCursor } from '../cursor.js';
import { withTransaction } from '../transaction.js';

/** A user account as the server sees it (never sent with the password hash). */
export interface UserRecord {
  id: string;
  email: string;
  username: string;
  passwordHash: string;
  status: 'active' | 'disabled';
  roles: Role[];
  /** Advanced by every change of roles or status. */
  version: number;
  createdAt: Date;
  lastLoginAt: Date | null;
}

/** What access checks need to know of a user, at a version. */
export interface UserAccess {
  id: string;
  status: 'active' | 'disabled';
  roles: Role[];
  version: number;
}

interface UserRow {
  id: string;
  email: string;
  username: string;
  password_hash: string;
  status: 'active' | 'disabled';
  roles: Role[] | null;
  version: string;
  created_at: Date;
  last_login_at: Date | null;
}

const ROLES = `coalesce((select array_agg(r.role_name order by r.role_name) from user_roles r where r.user_id = u.id), '{}')`;
const COLUMNS = `u.id, u.email, u.username, u.password_hash, u.status, u.version, u.created_at, u.last_login_at, ${ROLES} as roles`;
const SELECT = `select ${COLUMNS} from users u`;

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    passwordHash: row.password_hash,
    status: row.status,
    roles: row.roles ?? [],
    version: Number(row.version),
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  };
}

/** Users and their roles (tables `users`, `user_roles`). */
export class UserRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Creates a user with the `user` role and any `roles` given (operators create admins and
   * service accounts); CONFLICT when the email (case-insensitive) exists.
   */
  async create(input: {
    email: string;
    username: string;
    passwordHash: string;
    roles?: readonly Role[];
  }): Promise<UserRecord> {
    const roles = [...new Set<Role>(['user', ...(input.roles ?? [])])];
    try {
      const id = await withTransaction(this.pool, async (client) => {
        const created = await client.query<{ id: string }>(
          'insert into users (email, username, password_hash) values ($1, $2, $3) returning id',
          [input.email, input.username, input.passwordHash],
        );
        const userId = created.rows[0]?.id as string;
        await client.query('insert into user_roles (user_id, role_name) select $1, unnest($2::text[])', [
          userId,
          roles,
        ]);
        return userId;
      });
      return (await this.getById(id)) as UserRecord;
    } catch (error) {
      if ((error as { code?: string }).code === '23505')
        throw AppError.because('email_taken', { message: 'email already registered' });
      throw error;
    }
  }

  async getById(id: string): Promise<UserRecord | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.pool.query<UserRow>(`${SELECT} where u.id = $1`, [id]);
    return result.rows[0] === undefined ? undefined : toUser(result.rows[0]);
  }

  async getByEmail(email: string): Promise<UserRecord | undefined> {
    const result = await this.pool.query<UserRow>(`${SELECT} where lower(u.email) = lower($1)`, [email]);
    return result.rows[0] === undefined ? undefined : toUser(result.rows[0]);
  }

  /**
   * Users whose email or name contains `search` (case-insensitive), newest first, `limit`
   * per page, with an opaque cursor for the next page.
   */
  async list(options: {
    search?: string;
    limit: number;
    cursor?: string;
  }): Promise<{ users: UserRecord[]; nextCursor: string | null }> {
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const pattern = options.search === undefined ? null : `%${options.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const result = await this.pool.query<UserRow & { cursor_at: string }>(
      `select ${COLUMNS}, ${cursorAt('u.created_at')} as cursor_at from users u
        where ($1::text is null or u.email ilike $1 or u.username ilike $1)
          and ($2::timestamptz is null or (u.created_at, u.id) < ($2, $3::uuid))
        order by u.created_at desc, u.id desc
        limit $4`,
      [pattern, after?.at ?? null, after?.id ?? null, options.limit + 1],
    );
    const rows = result.rows.slice(0, options.limit);
    const last = rows[rows.length - 1];
    return {
      users: rows.map(toUser),
      nextCursor:
        result.rows.length > options.limit && last !== undefined
          ? encodeCursor({ at: last.cursor_at, id: last.id })
          : null,
    };
  }

  /** Replaces the password hash and advances the version; NOT_FOUND for an unknown user. */
  async setPasswordHash(id: string, passwordHash: string): Promise<{ version: number }> {
    if (!isUuid(id)) throw new AppError('NOT_FOUND', { message: 'user not found' });
    return withTransaction(this.pool, async (client) => {
      const version = await this.advance(client, id);
      await client.query('update users set password_hash = $2 where id = $1', [id, passwordHash]);
      return { version };
    });
  }

  async touchLogin(id: string): Promise<void> {
    await this.pool.query('update users set last_login_at = now() where id = $1', [id]);
  }

  /**
   * Replaces the user's roles and advances their version; NOT_FOUND for an unknown user.
   * `user` is always kept.
   */
  async setRoles(
    id: string,
    roles: readonly Role[],
    grantedBy: string | null,
  ): Promise<{ roles: Role[]; version: number }> {
    if (!isUuid(id)) throw new AppError('NOT_FOUND', { message: 'user not found' });
    const wanted = [...new Set<Role>(['user', ...roles])].sort();
    return withTransaction(this.pool, async (client) => {
      const version = await this.advance(client, id);
      await client.query('delete from user_roles where user_id = $1 and role_name <> all($2::text[])', [id, wanted]);
      await client.query(
        `insert into user_roles (user_id, role_name, granted_by)
         select $1, r, $3 from unnest($2::text[]) as r
         on conflict (user_id, role_name) do nothing`,
        [id, wanted, grantedBy],
      );
      return { roles: wanted, version };
    });
  }

  /** Sets `active` or `disabled` and advances the version; NOT_FOUND for an unknown user. */
  async setStatus(id: string, status: 'active' | 'disabled'): Promise<{ version: number }> {
    if (!isUuid(id)) throw new AppError('NOT_FOUND', { message: 'user not found' });
    return withTransaction(this.pool, async (client) => {
      const version = await this.advance(client, id);
      await client.query('update users set status = $2 where id = $1', [id, status]);
      return { version };
    });
  }

  /** Deletes an account (its roles, refresh tokens and API keys go with it); false when there was none. */
  async delete(id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const result = await this.pool.query('delete from users where id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  /** Status, roles and version of each of these users that exists, in one query. */
  async access(ids: readonly string[]): Promise<Map<string, UserAccess>> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return new Map();
    const result = await this.pool.query<{ id: string; status: 'active' | 'disabled'; roles: Role[]; version: string }>(
      `select u.id, u.status, ${ROLES} as roles, u.version from users u where u.id = any($1::uuid[])`,
      [valid],
    );
    return new Map(
      result.rows.map((r) => [r.id, { id: r.id, status: r.status, roles: r.roles, version: Number(r.version) }]),
    );
  }

  /** Locks the user's row and advances its version; NOT_FOUND for an unknown user. */
  private async advance(client: pg.PoolClient, id: string): Promise<number> {
    const result = await client.query<{ version: string }>(
      'update users set version = version + 1, updated_at = now() where id = $1 returning version',
      [id],
    );
    const row = result.rows[0];
    if (row === undefined) throw new AppError('NOT_FOUND', { message: 'user not found' });
    return Number(row.version);
  }
}

/** The strongest role, as carried in access tokens. */
export function primaryRole(roles: readonly Role[]): Role {
  if (roles.includes('admin')) return 'admin';
  if (roles.includes('service')) return 'service';
  return 'user';
}
