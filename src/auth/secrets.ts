import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isUuid } from '../stores/messages/validate-message.js';

/**
 * The secrets of refresh tokens and API keys: `<uuid id>.<secret>` inside a format of their
 * own, 32 random bytes in base64url, kept only as their SHA-256.
 */

/** A new random secret. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** The digest a secret is kept as. */
export function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** True when `secret` is the one whose digest is kept (in constant time). */
export function matches(secret: string, kept: Buffer): boolean {
  return timingSafeEqual(kept, digest(secret));
}

/** The id and secret of a well-formed credential, whose `format` captures them in that order. */
export function parseCredential(format: RegExp, text: string): { id: string; secret: string } | undefined {
  const match = format.exec(text);
  if (match === null || !isUuid(match[1] as string) || match[2] === undefined) return undefined;
  return { id: match[1] as string, secret: match[2] };
}
