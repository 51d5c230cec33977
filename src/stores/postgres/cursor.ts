import { AppError } from '../../errors/app-error.js';

/** A keyset position: the sort timestamp and the id of the last row of a page. */
export interface Cursor {
  at: Date;
  id: string;
}

/** Opaque, URL-safe cursor text for a keyset position. */
export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(`${cursor.at.toISOString()}|${cursor.id}`, 'utf8').toString('base64url');
}

/** Parses a cursor from a client; VALIDATION when it was not made by `encodeCursor`. */
export function decodeCursor(text: string): Cursor {
  const bad = () => new AppError('VALIDATION', { message: 'invalid cursor', details: { field: 'cursor' } });
  if (text.length > 200) throw bad();
  const [at, id, extra] = Buffer.from(text, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (extra !== undefined || id === undefined || !/^[0-9a-f-]{36}$/i.test(id) || Number.isNaN(date.getTime())) throw bad();
  return { at: date, id };
}
