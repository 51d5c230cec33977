import { rooms } from '../stores/names.js';

// The Socket.IO rooms by their names' owner (stores/names.ts), as the realtime layer uses them.

/** The Socket.IO room of a session (sockets of every node that joined it). */
export const sessionRoom = rooms.session;

/** The Socket.IO room of every socket of one user, on every node. */
export const userRoom = rooms.user;

/** The Socket.IO room of every socket opened with tokens of one refresh-token family (one login), on every node. */
export const familyRoom = rooms.family;

const SESSION_ROOM_PREFIX = sessionRoom('');

/** The session whose room this is, or undefined for any other room. */
export function sessionOfRoom(room: string): string | undefined {
  return room.startsWith(SESSION_ROOM_PREFIX) ? room.slice(SESSION_ROOM_PREFIX.length) : undefined;
}
