import type { Logger } from '../logger.js';
import type { Cache } from '../stores/cache/cache.js';
import { retryInBackground } from '../util/retry.js';

const key = (familyId: string) => `vh:family-revoked:${familyId}`;

/**
 * Refresh-token families revoked as a whole (logout, a reused token, a disabled user):
 * the access tokens issued from them stop working at once instead of at their expiry.
 * A marker in the shared cache lives as long as an access token does; when the cache
 * cannot be read, PostgreSQL answers instead.
 */
export class RevokedFamilies {
  constructor(
    private readonly cache: Cache,
    /** The truth: is the family revoked in `refresh_tokens`? */
    private readonly lookup: (familyId: string) => Promise<boolean>,
    /** Lifetime of access tokens: no marker is needed longer. */
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
  ) {}

  /** Marks a revoked family (after its revocation committed); retried in the background, never throws. */
  revoke(familyId: string): void {
    retryInBackground(
      () => this.cache.set(key(familyId), '1', this.ttlSeconds),
      (error) =>
        this.logger.error(
          { err: error, familyId },
          'marking a revoked token family failed; its access tokens last until they expire',
        ),
    );
  }

  async isRevoked(familyId: string): Promise<boolean> {
    let marker: string | undefined;
    try {
      marker = await this.cache.get(key(familyId));
    } catch {
      return this.lookup(familyId);
    }
    return marker !== undefined;
  }
}
