import type { Role, TokenKind } from '../../protocol/roles.js';
import type { RevokedFamilies } from '../auth/revoked-families.js';
import type { TokenService } from '../auth/tokens.js';
import { AppError } from '../errors/app-error.js';
import { primaryRole } from '../stores/postgres/repositories/users.js';
import type { UserDirectory } from './user-directory.js';

/** Who a request or socket acts for. */
export interface AuthenticatedCaller {
  userId: string;
  role: Role;
  /** The refresh-token family or API key the access token came from, if any (its revocation ends the caller's sockets). */
  family?: string;
  /** What the access token was issued for. */
  kind: TokenKind;
  /** When the access token expires (ms since the epoch): a socket opened with it is ended then. */
  expiresAt: number;
}

/**
 * The role a caller acts with, given the roles the user holds now: the strongest of them
 * for a sign-in, and `service` only for an API key's token (which an account that no longer
 * holds `service` cannot use: undefined).
 */
export function roleNow(roles: readonly Role[], kind: TokenKind): Role | undefined {
  if (kind === 'api_key') return roles.includes('service') ? 'service' : undefined;
  return primaryRole(roles);
}

/**
 * Turns an access token into a caller with the role and status the user has now, not
 * when the token was issued: the token proves who it is (signature, expiry), the user
 * directory (cached, dropped on every change) says what they may do. A removed or disabled
 * user is refused at once, a role change applies to the next request, and a token whose
 * refresh family or API key was revoked is refused although it has not expired.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly directory: UserDirectory,
    private readonly families: RevokedFamilies,
    /** Counts one authenticated HTTP request of a user; throws RATE_LIMITED past the limit. */
    private readonly httpLimit: (userId: string) => Promise<void> = async () => undefined,
  ) {}

  /** The caller of an HTTP request, counted against the per-user HTTP limit. */
  async request(token: unknown): Promise<AuthenticatedCaller> {
    const caller = await this.caller(token);
    await this.httpLimit(caller.userId);
    return caller;
  }

  async caller(token: unknown): Promise<AuthenticatedCaller> {
    const claims = await this.tokens.verify(token);
    const [user, revoked] = await Promise.all([
      this.directory.get(claims.userId),
      claims.family === undefined ? false : this.families.isRevoked(claims.family),
    ]);
    const kind = claims.kind ?? 'login';
    const role = user === undefined ? undefined : roleNow(user.roles, kind);
    if (user === undefined || user.status !== 'active' || revoked || role === undefined)
      throw new AppError('UNAUTHORIZED', { message: 'unauthorized' });
    return {
      userId: claims.userId,
      role,
      ...(claims.family === undefined ? {} : { family: claims.family }),
      kind,
      expiresAt: claims.expiresAt,
    };
  }
}
