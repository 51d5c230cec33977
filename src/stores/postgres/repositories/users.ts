import type pg from 'pg';
import type { Role } from '../../../../protocol/roles.js';
import { AppError } from '../../../errors/app-error.js';
import { isUuid } from '../../messages/validate-message.js';
import { withTransaction } from '../transaction.js';

/** A user account as the server sees it (never sent with the password hash). */
export interface UserRecord {
  id: string;
  email: string;
  username: string;
  passwordHash: string;
  status: 'active' | 'disabled';
  roles: Role[];
  createdAt: Date;
  lastLoginAt: Date | null;
}

interface UserRow {
  id: string;
  email: string;
  username: string;
  password_hash: string;
  status: 'active' | 'disabled';
  roles: Role[] | null;
  created_at: Date;
  last_login_at: Date | null;
}

const SELECT = `select u.id, u.email, u.username, u.password_hash, u.status, u.created_at, u.last_login_at,
  coalesce((select array_agg(r.role_name order by r.role_name) from user_roles r where r.user_id = u.id), '{}') as roles
  from users u`;

function toUser(row: UserRow): UserRecord {
  return {
    id: row.id,
    email: row.email,
    username: row.username,
    passwordHash: row.password_hash,
    status: row.status,
    roles: row.roles ?? [],
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  };
}

/** Users and their roles (tables `users`, `user_roles`). */
export class UserRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Creates a user with the `user` role; CONFLICT when the email (case-insensitive) exists. */
  async create(input: { email: string; username: string; passwordHash: string }): Promise<UserRecord> {
    try {
      const id = await withTransaction(this.pool, async (client) => {
        const created = await client.query<{ id: string }>(
          'insert into users (email, username, password_hash) values ($1, $2, $3) returning id',
          [input.email, input.username, input.passwordHash],
        );
        const userId = created.rows[0]?.id as string;
        await client.query("insert into user_roles (user_id, role_name) values ($1, 'user')", [userId]);
        return userId;
      });
      return (await this.getById(id)) as UserRecord;
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new AppError('CONFLICT', { message: 'email already registered' });
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

  async touchLogin(id: string): Promise<void> {
    await this.pool.query('update users set last_login_at = now() where id = $1', [id]);
  }

  /** Replaces the user's roles; NOT_FOUND for an unknown user. `user` is always kept. */
  async setRoles(id: string, roles: readonly Role[], grantedBy: string | null): Promise<Role[]> {
    if (!isUuid(id)) throw new AppError('NOT_FOUND', { message: 'user not found' });
    const wanted = [...new Set<Role>(['user', ...roles])].sort();
    return withTransaction(this.pool, async (client) => {
      const exists = await client.query('select 1 from users where id = $1 for update', [id]);
      if (exists.rowCount === 0) throw new AppError('NOT_FOUND', { message: 'user not found' });
      await client.query('delete from user_roles where user_id = $1 and role_name <> all($2::text[])', [id, wanted]);
      await client.query(
        `insert into user_roles (user_id, role_name, granted_by)
         select $1, r, $3 from unnest($2::text[]) as r
         on conflict (user_id, role_name) do nothing`,
        [id, wanted, grantedBy],
      );
      return wanted;
    });
  }
}

/** The strongest role, as carried in access tokens. */
export function primaryRole(roles: readonly Role[]): Role {
  if (roles.includes('admin')) return 'admin';
  if (roles.includes('service')) return 'service';
  return 'user';
}
