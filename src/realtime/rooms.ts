/** The Socket.IO room of a session (sockets of every node that joined it). */
export function sessionRoom(sessionId: string): string {
  return `session:${sessionId}`;
}

/** The Socket.IO room of every socket of one user, on every node. */
export function userRoom(userId: string): string {
  return `user:${userId}`;
}

/** The Socket.IO room of every socket opened with tokens of one refresh-token family (one login), on every node. */
export function familyRoom(familyId: string): string {
  return `family:${familyId}`;
}
