import { audioFormats } from '../../protocol/schemas.js';

/**
 * The object key of a stream's audio, under its session's prefix: built from the session id
 * and a server-made id only, never from anything the client chose.
 */
export function audioObjectKey(sessionId: string, objectId: string, mimeType: keyof typeof audioFormats): string {
  return `${audioPrefix(sessionId)}${objectId}.${audioFormats[mimeType]}`;
}

/** Every audio object of a session lives under this prefix. */
export function audioPrefix(sessionId: string): string {
  return `audio/${sessionId}/`;
}
