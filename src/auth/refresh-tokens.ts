import { randomUUID } from 'node:crypto';
import { AppError } from '../errors/app-error.js';
import { isUuid } from '../stores/messages/validate-message.js';
import type { RefreshTokenRepository } from '../stores/postgres/repositories/refresh-tokens.js';
import { digest, matches, newSecret, parseCredential } from './secrets.js';

const FORMAT = /^([0-9a-f-]{36})\.([A-Za-z0-9_-]{43})$/;

function unauthorized(): AppError {
  return new AppError('UNAUTHORIZED', { message: 'the refresh token is invalid or has expired' });
}

/** A refresh token and the family it belongs to (access tokens issued with it name the family). */
export interface IssuedRefreshToken {
  refreshToken: string;
  familyId: string;
}

/**
 * Long-lived, single-use refresh tokens (`<id>.<secret>`), kept in PostgreSQL as a hash.
 * Rotating a token replaces it; presenting a replaced token again revokes its family.
 * Every revoked family (logout, reuse, a disabled user) is passed to `onRevoked` after the
 * commit, which ends what the family opened (sockets, access tokens).
 */
export class RefreshTokenService {
  constructor(
    private readonly tokens: RefreshTokenRepository,
    /** Lifetime in seconds. */
    private readonly ttlSeconds: number,
    private readonly onRevoked: (familyId: string) => Promise<void> = async () => undefined,
  ) {}

  /** Starts a new family for a fresh login. */
  async issue(userId: string): Promise<IssuedRefreshToken> {
    const familyId = randomUUID();
    const { token, row } = this.newToken();
    await this.tokens.insert({ ...row, userId, familyId });
    return { refreshToken: token, familyId };
  }

  /**
   * Exchanges a refresh token for a new one of the same family and returns the user id.
   * UNAUTHORIZED for a malformed, unknown, expired or revoked token; a revoked (already
   * used) token also revokes every token of its family.
   */
  async rotate(token: string): Promise<IssuedRefreshToken & { userId: string }> {
    const parsed = parseCredential(FORMAT, token);
    if (parsed === undefined) throw unauthorized();
    const next = this.newToken();
    const rotation = await this.tokens.rotate(parsed.id, (kept) => matches(parsed.secret, kept), next.row);
    if (rotation.outcome === 'reused') await this.onRevoked(rotation.familyId);
    if (rotation.outcome !== 'rotated') throw unauthorized();
    return { userId: rotation.userId, refreshToken: next.token, familyId: rotation.familyId };
  }

  /** Revokes the token's whole family (logout) and returns its user and family; unknown tokens are ignored. */
  async revoke(token: string): Promise<{ userId: string; familyId: string } | undefined> {
    const parsed = parseCredential(FORMAT, token);
    if (parsed === undefined) return undefined;
    const revoked = await this.tokens.revokeFamilyOf(parsed.id, digest(parsed.secret));
    if (revoked !== undefined) await this.onRevoked(revoked.familyId);
    return revoked;
  }

  /** Revokes every live family of a user (the account was disabled). */
  async revokeUser(userId: string): Promise<void> {
    if (!isUuid(userId)) return;
    for (const familyId of await this.tokens.revokeUser(userId)) await this.onRevoked(familyId);
  }

  /** Deletes tokens expired more than a day ago (nothing can use them); returns how many. */
  sweepExpired(): Promise<number> {
    return this.tokens.deleteExpired();
  }

  /**
   * True when the family was revoked as a whole (logout, reuse, a disabled user), not just
   * rotated: some token of it is revoked without having been replaced.
   */
  async isFamilyRevoked(familyId: string): Promise<boolean> {
    return !isUuid(familyId) || (await this.tokens.isFamilyRevoked(familyId));
  }

  private newToken(): { token: string; row: { id: string; hash: Buffer; ttlSeconds: number } } {
    const id = randomUUID();
    const secret = newSecret();
    return { token: `${id}.${secret}`, row: { id, hash: digest(secret), ttlSeconds: this.ttlSeconds } };
  }
}
