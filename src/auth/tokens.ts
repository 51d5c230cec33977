import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { type Role, roles, type TokenKind } from '../../protocol/roles.js';
import { AppError } from '../errors/app-error.js';

/** Claims the server reads from an access token. */
export interface AccessClaims {
  userId: string;
  role: Role;
  /**
   * The refresh-token family the token was issued from (login, register, refresh), or the
   * API key it was exchanged for, so that a logout or a revocation ends what it opened.
   * Absent on tokens issued otherwise.
   */
  family?: string;
  /** Absent: `login`. */
  kind?: TokenKind;
}

/** The claims of a token that verified, with when it expires (ms since the epoch). */
export interface VerifiedClaims extends AccessClaims {
  expiresAt: number;
}

const ISSUER = 'voicehelper';
const AUDIENCE = 'voicehelper:access';

/** Tokens verified lately, kept until they expire (a reconnect storm presents the same ones). */
const VERIFIED_MAX = 20_000;

/**
 * Signs and verifies HS256 access tokens with JWT_SECRET. A token that verified is
 * remembered (by its exact text, signature included) until it expires, so presenting it
 * again costs no HMAC: the thousands of sockets a reconnect storm opens with a few tokens
 * are checked once each.
 */
export class TokenService {
  private readonly key: Uint8Array;
  private readonly verified = new Map<string, VerifiedClaims>();

  constructor(
    secret: string,
    /** Lifetime of an access token in seconds. Default 900 (15 minutes). */
    readonly ttlSeconds = 900,
  ) {
    this.key = new TextEncoder().encode(secret);
  }

  async sign(claims: AccessClaims): Promise<string> {
    return new SignJWT({
      role: claims.role,
      ...(claims.family === undefined ? {} : { fam: claims.family }),
      ...(claims.kind === undefined || claims.kind === 'login' ? {} : { knd: claims.kind }),
    })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.userId)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${this.ttlSeconds}s`)
      .sign(this.key);
  }

  /** Throws AppError UNAUTHORIZED for a missing, expired, forged or malformed token. */
  async verify(token: unknown): Promise<VerifiedClaims> {
    if (typeof token !== 'string' || token.length === 0 || token.length > 4096) {
      throw new AppError('UNAUTHORIZED', { message: 'unauthorized' });
    }
    const known = this.verified.get(token);
    if (known !== undefined) {
      if (known.expiresAt > Date.now()) return known;
      this.verified.delete(token);
    }
    try {
      const { payload } = await jwtVerify(token, this.key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: AUDIENCE,
        requiredClaims: ['exp'],
      });
      const role = payload['role'];
      const family = payload['fam'];
      const kind = payload['knd'];
      if (
        typeof payload.sub !== 'string' ||
        typeof payload.exp !== 'number' ||
        !roles.includes(role as Role) ||
        (family !== undefined && typeof family !== 'string') ||
        (kind !== undefined && kind !== 'api_key')
      ) {
        throw new AppError('UNAUTHORIZED', { message: 'unauthorized' });
      }
      const claims: VerifiedClaims = {
        userId: payload.sub,
        role: role as Role,
        ...(family === undefined ? {} : { family }),
        ...(kind === undefined ? {} : { kind }),
        expiresAt: payload.exp * 1000,
      };
      if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
      this.verified.set(token, claims);
      return claims;
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof joseErrors.JOSEError)
        throw new AppError('UNAUTHORIZED', { message: 'unauthorized', cause: error });
      throw error;
    }
  }
}
