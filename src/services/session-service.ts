import type { JsonObject, Session, SessionStatus } from '../../protocol/models.js';
import type { Role } from '../../protocol/roles.js';
import { AppError } from '../errors/app-error.js';
import type { Cache } from '../stores/cache/cache.js';
import type { AuditLog } from '../stores/postgres/repositories/audit.js';
import type { SessionChanges, SessionRepository } from '../stores/postgres/repositories/sessions.js';

/** The caller of a service method. */
export interface Caller {
  userId: string;
  role: Role;
  ip?: string | null;
}

/** Live session state cached for 24 h (the seed's TTL). */
const SESSION_TTL_SECONDS = 24 * 60 * 60;
const cacheKey = (id: string) => `vh:session:${id}`;

/** True when the caller may read and write the session: its owner, a service or an admin. */
export function canAccess(caller: Caller, session: Pick<Session, 'userId'>): boolean {
  return caller.role !== 'user' || session.userId === caller.userId;
}

/**
 * Sessions with ownership rules and a cache-aside copy in Redis, used on hot paths for
 * access checks. The copy is dropped on every update; PostgreSQL stays the source of truth
 * (`lastSeq` and `updatedAt` are always read from there where they matter).
 */
export class SessionService {
  constructor(
    private readonly repo: SessionRepository,
    private readonly cache: Cache,
    private readonly audit: AuditLog,
  ) {}

  async create(caller: Caller, input: { title?: string; context?: JsonObject; metadata?: JsonObject }): Promise<Session> {
    const session = await this.repo.create({ userId: caller.userId, ...input });
    await this.cache.set(cacheKey(session.id), JSON.stringify(session), SESSION_TTL_SECONDS).catch(() => undefined);
    await this.audit.record(caller, { action: 'session.create', resourceType: 'session', resourceId: session.id });
    return session;
  }

  /** For access checks: the cached copy when there is one. NOT_FOUND / FORBIDDEN otherwise. */
  async authorize(caller: Caller, sessionId: string): Promise<Session> {
    let session: Session | undefined;
    const cached = await this.cache.get(cacheKey(sessionId)).catch(() => undefined);
    if (cached !== undefined) session = JSON.parse(cached) as Session;
    else {
      session = await this.repo.get(sessionId);
      if (session !== undefined) await this.cache.set(cacheKey(sessionId), JSON.stringify(session), SESSION_TTL_SECONDS).catch(() => undefined);
    }
    return this.check(caller, session);
  }

  /** Fresh from PostgreSQL (exact lastSeq), with the same access rules. */
  async getFresh(caller: Caller, sessionId: string): Promise<Session> {
    return this.check(caller, await this.repo.get(sessionId));
  }

  list(caller: Caller, options: { limit: number; cursor?: string; status?: SessionStatus }) {
    return this.repo.list(caller.userId, options);
  }

  async update(caller: Caller, sessionId: string, changes: SessionChanges): Promise<Session> {
    await this.getFresh(caller, sessionId);
    const session = await this.repo.update(sessionId, changes);
    await this.cache.del(cacheKey(sessionId)).catch(() => undefined);
    await this.audit.record(caller, {
      action: 'session.update',
      resourceType: 'session',
      resourceId: sessionId,
      details: { fields: Object.keys(changes).filter((k) => changes[k as keyof SessionChanges] !== undefined) },
    });
    return session;
  }

  private check(caller: Caller, session: Session | undefined): Session {
    if (session === undefined) throw new AppError('NOT_FOUND', { message: 'session not found' });
    if (!canAccess(caller, session)) throw new AppError('FORBIDDEN', { message: 'not your session' });
    return session;
  }
}
