import type { Role } from '../../protocol/roles.js';
import type { Logger } from '../logger.js';
import type { Cache } from '../stores/cache/cache.js';
import { channels, keys } from '../stores/names.js';
import type { UserAccess, UserRepository } from '../stores/postgres/repositories/users.js';
import type { PubSub } from '../stores/pubsub/pubsub.js';
import type { FollowUps } from '../util/follow-ups.js';

/** What the real-time layer needs to know about a user. */
export interface UserSummary {
  id: string;
  username: string;
  status: 'active' | 'disabled';
  roles: Role[];
  /** The user's version when this copy was read (advanced by every change of roles or status). */
  version: number;
}

/** Options of the directory. */
export interface UserDirectoryOptions {
  /** How long this node keeps a user in memory before asking the shared cache again. Default 30 s. */
  localTtlMs?: number;
  /** Most users kept in memory (oldest go first). Default 50,000. */
  maxLocal?: number;
}

/** The seed's user cache TTL: 12 h. A shared copy is never older than this. */
export const USER_TTL_SECONDS = 12 * 60 * 60;
const CHANNEL = channels.userChanged;
const cacheKey = keys.user;

/**
 * Users as handshakes and requests see them: in this node's memory for a few seconds, in
 * the shared cache (Redis) for 12 h, and in PostgreSQL, which is the truth.
 *
 * Every copy carries the user's version. A committed change of roles or status calls
 * `changed(id, version)`: every node is told over pub/sub and from then on ignores any copy
 * older than that version (so a copy written back by a request that read PostgreSQL just
 * before the change cannot bring the old role back), and the shared copy is dropped; both
 * are retried in the background until they succeed, so the change itself never fails
 * after its commit. A change whose announcement never arrived (lost, or made where this
 * node's pub/sub does not reach: the CLI on the embedded default) is learnt from
 * PostgreSQL by the privilege sweep, which calls `outdate` with the same effect.
 */
export class UserDirectory {
  private readonly local = new Map<string, { summary: UserSummary; expiresAt: number }>();
  /** Lowest version each recently changed user may be served at, with when it was learnt. */
  private readonly floors = new Map<string, { version: number; at: number }>();
  private readonly localTtlMs: number;
  private readonly maxLocal: number;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly users: UserRepository,
    private readonly cache: Cache,
    private readonly pubsub: PubSub,
    /** Runs the announcement and the cache drop of `changed` (the CLI waits for them before it exits). */
    private readonly followUps: FollowUps,
    private readonly logger: Logger,
    options: UserDirectoryOptions = {},
  ) {
    this.localTtlMs = options.localTtlMs ?? 30_000;
    this.maxLocal = options.maxLocal ?? 50_000;
  }

  /** Follows the changes announced by every node. */
  async start(): Promise<void> {
    this.unsubscribe = await this.pubsub.subscribe(CHANNEL, (raw) => {
      try {
        const { id, version } = JSON.parse(raw) as { id: string; version: number };
        if (typeof id === 'string' && typeof version === 'number') this.outdate(id, version);
      } catch {
        // Not one of ours.
      }
    });
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.().catch(() => undefined);
  }

  async get(id: string): Promise<UserSummary | undefined> {
    const floor = this.floor(id);
    const held = this.local.get(id);
    if (held !== undefined && held.expiresAt > Date.now() && held.summary.version >= floor) return held.summary;
    const cached = await this.cache.get(cacheKey(id)).catch(() => undefined);
    if (cached !== undefined) {
      const summary = JSON.parse(cached) as UserSummary;
      if (typeof summary.version === 'number' && summary.version >= floor) {
        this.keep(summary);
        return summary;
      }
    }
    const user = await this.users.getById(id);
    if (user === undefined) return undefined;
    const summary: UserSummary = {
      id: user.id,
      username: user.username,
      status: user.status,
      roles: user.roles,
      version: user.version,
    };
    this.keep(summary);
    await this.cache.set(cacheKey(id), JSON.stringify(summary), USER_TTL_SECONDS).catch(() => undefined);
    return summary;
  }

  /**
   * After a committed change of the user's roles or status (at `version`): this node
   * forgets older copies at once; the other nodes are told and the shared copy dropped, in
   * the background with retries. Never throws.
   */
  changed(id: string, version: number): void {
    this.outdate(id, version);
    const giveUp = (what: string) => (error: unknown) =>
      this.logger.error(
        { err: error, userId: id },
        `${what} failed after retries; nodes serve the old role until their privilege sweep reads the change`,
      );
    this.followUps.run(
      () => this.pubsub.publish(CHANNEL, JSON.stringify({ id, version })),
      giveUp('announcing a user change'),
    );
    this.followUps.run(() => this.cache.del(cacheKey(id)), giveUp('dropping a cached user'));
  }

  /**
   * The user changed (roles, status, password) at `version`, or is gone
   * (`Number.MAX_SAFE_INTEGER`): this node no longer serves any copy older than that, from
   * its memory or the shared cache, and reads PostgreSQL instead.
   */
  outdate(id: string, version: number): void {
    if (version > this.floor(id)) this.floors.set(id, { version, at: Date.now() });
    const held = this.local.get(id);
    if (held !== undefined && held.summary.version < version) this.local.delete(id);
    // Floors matter only while an older shared copy can exist (its TTL).
    if (this.floors.size > 10_000) {
      const expired = Date.now() - USER_TTL_SECONDS * 1000;
      for (const [key, entry] of this.floors) if (entry.at < expired) this.floors.delete(key);
    }
  }

  /** Takes fresh values read from PostgreSQL (the privilege sweep) into this node's memory. */
  refresh(access: UserAccess): void {
    const held = this.local.get(access.id);
    if (held === undefined || held.summary.version > access.version) return;
    this.keep({ ...held.summary, status: access.status, roles: access.roles, version: access.version });
  }

  private keep(summary: UserSummary): void {
    this.local.delete(summary.id);
    this.local.set(summary.id, { summary, expiresAt: Date.now() + this.localTtlMs });
    if (this.local.size > this.maxLocal) {
      const oldest = this.local.keys().next().value;
      if (oldest !== undefined) this.local.delete(oldest);
    }
  }

  private floor(id: string): number {
    return this.floors.get(id)?.version ?? 0;
  }
}
