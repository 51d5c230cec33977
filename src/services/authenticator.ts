import type { Role } from '../../protocol/roles.js';
import type { TokenService } from '../auth/tokens.js';
import { AppError } from '../errors/app-error.js';
import { primaryRole } from '../stores/postgres/repositories/users.js';
import type { UserDirectory } from './user-directory.js';

/** Who a request or socket acts for. */
export interface AuthenticatedCaller {
  userId: string;
  role: Role;
}

/**
 * Turns an access token into a caller with the role and status the user has now, not
 * when the token was issued: the token proves who it is (signature, expiry), the user
 * directory (cached, dropped on every change) says what they may do. A removed or disabled
 * user is refused at once, and a role change applies to the next request.
 */
export class Authenticator {
  constructor(
    private readonly tokens: TokenService,
    private readonly directory: UserDirectory,
  ) {}

  async caller(token: unknown): Promise<AuthenticatedCaller> {
    const claims = await this.tokens.verify(token);
    const user = await this.directory.get(claims.userId);
    if (user === undefined || user.status !== 'active') throw new AppError('UNAUTHORIZED', { message: 'unauthorized' });
    return { userId: claims.userId, role: primaryRole(user.roles) };
  }
}
