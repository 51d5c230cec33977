import { AppError } from '../../errors/app-error.js';

/**
 * A keyset position: the sort timestamp at full PostgreSQL precision (microseconds, as
 * text: a JS Date would drop them and skip rows) and the id of the last row of a page.
 */
export interface Cursor {
  at: string;
  id: string;
}

/** SQL that renders a timestamptz column as the exact `at` of a cursor. */
export function cursorAt(column: string): string {
  return `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
}

const AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Opaque, URL-safe cursor text for a keyset position. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.at}|${cursor.id}`, 'utf8').toString('base64url');
}

/** Parses a cursor from a client; VALIDATION when it was not made by `encodeCursor`. */
export function decodeCursor(text: string): Cursor {
  const bad = () => new AppError('VALIDATION', { message: 'invalid cursor', details: { field: 'cursor' } });
  if (text.length > 200) throw bad();
  const [at, id, extra] = Buffer.from(text, 'base64url').toString('utf8').split('|');
  if (extra !== undefined || at === undefined || id === undefined || !AT.test(at) || !ID.test(id)) throw bad();
  return { at, id };
}
