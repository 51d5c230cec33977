import type { Logger } from '../logger.js';
import type { Cache } from '../stores/cache/cache.js';
import { keys } from '../stores/names.js';
import type { FollowUps } from '../util/follow-ups.js';

const key = keys.familyRevoked;

/**
 * Refresh-token families revoked as a whole (logout, a reused token, a disabled user) and
 * revoked API keys: the access tokens issued from them stop working at once instead of at
 * their expiry. A marker in the shared cache lives as long as an access token does; when
 * the cache cannot be read, PostgreSQL answers instead. Revocations this node made or
 * learnt from PostgreSQL (the privilege sweep: made elsewhere, their marker lost or
 * written where this node cannot see it, as by the CLI on the embedded default) are also
 * kept in memory for that long.
 */
export class RevokedFamilies {
  /** Families known here to be revoked, with when their access tokens have all expired; oldest first. */
  private readonly known = new Map<string, number>();

  constructor(
    private readonly cache: Cache,
    /** The truth: is the family revoked in `refresh_tokens` (or the key in `api_keys`)? */
    private readonly lookup: (familyId: string) => Promise<boolean>,
    /** Lifetime of access tokens: no marker is needed longer. */
    private readonly ttlSeconds: number,
    /** Writes the shared marker (the CLI waits for it before it exits). */
    private readonly followUps: FollowUps,
    private readonly logger: Logger,
  ) {}

  /** Marks a revoked family (after its revocation committed); retried in the background, never throws. */
  revoke(familyId: string): void {
    this.learn(familyId);
    this.followUps.run(
      () => this.cache.set(key(familyId), '1', this.ttlSeconds),
      (error) =>
        this.logger.error(
          { err: error, familyId },
          'marking a revoked token family failed; other nodes refuse its tokens once their privilege sweep reads it',
        ),
    );
  }

  /** A family revoked elsewhere, as read from PostgreSQL: refused by this node from now on. */
  learn(familyId: string): void {
    const now = Date.now();
    this.known.delete(familyId);
    this.known.set(familyId, now + this.ttlSeconds * 1000);
    for (const [id, until] of this.known) {
      if (until > now) break;
      this.known.delete(id);
    }
  }

  async isRevoked(familyId: string): Promise<boolean> {
    const until = this.known.get(familyId);
    if (until !== undefined && until > Date.now()) return true;
    let marker: string | undefined;
    try {
      marker = await this.cache.get(key(familyId));
    } catch {
      return this.lookup(familyId);
    }
    return marker !== undefined;
  }
}
