import type { Role } from '../../protocol/roles.js';
import type { Cache } from '../stores/cache/cache.js';
import type { UserRepository } from '../stores/postgres/repositories/users.js';

/** What the real-time layer needs to know about a user. */
export interface UserSummary {
  id: string;
  username: string;
  status: 'active' | 'disabled';
  roles: Role[];
}

/** The seed's user cache TTL: 12 h. */
const USER_TTL_SECONDS = 12 * 60 * 60;
const cacheKey = (id: string) => `vh:user:${id}`;

/**
 * Users as the handshake sees them, cache-aside in Redis for 12 h. Every change of a
 * user's roles or status must call `invalidate`; PostgreSQL stays the source of truth.
 */
export class UserDirectory {
  constructor(
    private readonly users: UserRepository,
    private readonly cache: Cache,
  ) {}

  async get(id: string): Promise<UserSummary | undefined> {
    const cached = await this.cache.get(cacheKey(id)).catch(() => undefined);
    if (cached !== undefined) return JSON.parse(cached) as UserSummary;
    const user = await this.users.getById(id);
    if (user === undefined) return undefined;
    const summary: UserSummary = { id: user.id, username: user.username, status: user.status, roles: user.roles };
    await this.cache.set(cacheKey(id), JSON.stringify(summary), USER_TTL_SECONDS).catch(() => undefined);
    return summary;
  }

  async invalidate(id: string): Promise<void> {
    await this.cache.del(cacheKey(id));
  }
}
