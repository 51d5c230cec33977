import type { Role } from '../../protocol/roles.js';
import type { RevokedFamilies } from '../auth/revoked-families.js';
import type { TokenService } from '../auth/tokens.js';
import { AppError } from '../errors/app-error.js';
import { primaryRole } from '../stores/postgres/repositories/users.js';
import type { UserDirectory } from './user-directory.js';

/** Who a request or socket acts for. */
export interface AuthenticatedCaller {
  userId: string;
  role: Role;
  /** The refresh-token family the access token came from, if any (a logout of it ends the caller's sockets). */
  family?: string;
}

/**
 * Turns an access token into a caller with the role and status the user has now, not
 * when the token was issued: the token proves who it is (signature, expiry), the user
 * directory (cached, dropped on every change) says what they may do. A removed or disabled
 * user is refused at once, a role change applies to the next request, and a token whose
 * refresh family was revoked (logout) is refused although it has not expired.
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
    if (user === undefined || user.status !== 'active' || revoked)
      throw new AppError('UNAUTHORIZED', { message: 'unauthorized' });
    return {
      userId: claims.userId,
      role: primaryRole(user.roles),
      ...(claims.family === undefined ? {} : { family: claims.family }),
    };
  }
}
