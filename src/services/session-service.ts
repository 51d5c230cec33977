import type { JsonObject, Session, SessionStatus } from '../../protocol/models.js';
import type { Role } from '../../protocol/roles.js';
import { AppError } from '../errors/app-error.js';
import type { Cache } from '../stores/cache/cache.js';
import { channels, keys } from '../stores/names.js';
import type { AuditEntry, AuditLog } from '../stores/postgres/repositories/audit.js';
import type { SessionChanges, SessionRepository } from '../stores/postgres/repositories/sessions.js';
import type { PubSub } from '../stores/pubsub/pubsub.js';

/** The caller of a service method. */
export interface Caller {
  userId: string;
  role: Role;
  ip?: string | null;
}

/** Live session state cached for 24 h (the seed's TTL). */
const SESSION_TTL_SECONDS = 24 * 60 * 60;
const cacheKey = keys.session;
/** How long a node keeps a session in its own memory; a change reaches it over pub/sub sooner. */
const LOCAL_TTL_MS = 60_000;
const LOCAL_MAX = 100_000;
const CHANNEL = channels.sessionChanged;

/** True when the caller may read and write the session: its owner, a service or an admin. */
export function canAccess(caller: Caller, session: Pick<Session, 'userId'>): boolean {
  return caller.role !== 'user' || session.userId === caller.userId;
}

/**
 * Sessions with ownership rules and cache-aside copies, used on hot paths for access
 * checks: in this node's memory for a minute, and in Redis for 24 h. An update drops both
 * on every node (pub/sub); the owner, which access depends on, never changes. PostgreSQL
 * stays the source of truth (`lastSeq` and `updatedAt` are read from there where they
 * matter).
 */
export class SessionService {
  private readonly local = new Map<string, { session: Session; expiresAt: number }>();
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly repo: SessionRepository,
    private readonly cache: Cache,
    private readonly audit: AuditLog,
    private readonly pubsub?: PubSub,
  ) {}

  /** Follows the updates announced by every node. */
  async start(): Promise<void> {
    this.unsubscribe = await this.pubsub?.subscribe(CHANNEL, (id) => this.local.delete(id));
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.().catch(() => undefined);
  }

  async create(
    caller: Caller,
    input: { title?: string; context?: JsonObject; metadata?: JsonObject; agent?: string | undefined },
  ): Promise<Session> {
    const { agent, ...rest } = input;
    const session = await this.repo.create({
      userId: caller.userId,
      ...rest,
      ...(agent === undefined ? {} : { agent }),
    });
    this.keep(session);
    await this.cache.set(cacheKey(session.id), JSON.stringify(session), SESSION_TTL_SECONDS).catch(() => undefined);
    await this.audit.record(caller, { action: 'session.create', resourceType: 'session', resourceId: session.id });
    return session;
  }

  /**
   * For access checks: a cached copy when there is one (its `lastSeq` may lag), else
   * PostgreSQL. NOT_FOUND / FORBIDDEN otherwise.
   */
  async authorize(caller: Caller, sessionId: string): Promise<Session> {
    const held = this.local.get(sessionId);
    if (held !== undefined && held.expiresAt > Date.now()) return this.check(caller, held.session);
    let session: Session | undefined;
    const cached = await this.cache.get(cacheKey(sessionId)).catch(() => undefined);
    if (cached !== undefined) session = JSON.parse(cached) as Session;
    else {
      session = await this.repo.get(sessionId);
      if (session !== undefined)
        await this.cache.set(cacheKey(sessionId), JSON.stringify(session), SESSION_TTL_SECONDS).catch(() => undefined);
    }
    if (session !== undefined) this.keep(session);
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
    this.local.delete(sessionId);
    await this.cache.del(cacheKey(sessionId)).catch(() => undefined);
    await this.pubsub?.publish(CHANNEL, sessionId).catch(() => undefined);
    await this.audit.record(caller, {
      action: 'session.update',
      resourceType: 'session',
      resourceId: sessionId,
      details: { fields: Object.keys(changes).filter((k) => changes[k as keyof SessionChanges] !== undefined) },
    });
    return session;
  }

  /** For deletion and turn figures: the session, fresh, when the caller owns it or is an admin (services may not). */
  async authorizeOwner(caller: Caller, sessionId: string): Promise<Session> {
    const session = await this.getFresh(caller, sessionId);
    if (session.userId !== caller.userId && caller.role !== 'admin')
      throw new AppError('FORBIDDEN', { message: 'only the owner of the session or an admin may do this' });
    return session;
  }

  /** Writes an audit entry of a session action taken elsewhere (deletion). */
  async recordAudit(caller: Caller, entry: AuditEntry): Promise<void> {
    await this.audit.record(caller, entry);
  }

  /** After the session was deleted: every node drops its copies. */
  async forget(sessionId: string): Promise<void> {
    this.local.delete(sessionId);
    await this.cache.del(cacheKey(sessionId)).catch(() => undefined);
    await this.pubsub?.publish(CHANNEL, sessionId).catch(() => undefined);
  }

  private keep(session: Session): void {
    this.local.delete(session.id);
    this.local.set(session.id, { session, expiresAt: Date.now() + LOCAL_TTL_MS });
    if (this.local.size > LOCAL_MAX) {
      const oldest = this.local.keys().next().value;
      if (oldest !== undefined) this.local.delete(oldest);
    }
  }

  private check(caller: Caller, session: Session | undefined): Session {
    if (session === undefined) throw new AppError('NOT_FOUND', { message: 'session not found' });
    if (!canAccess(caller, session)) throw new AppError('FORBIDDEN', { message: 'not your session' });
    return session;
  }
}
