/** The Socket.IO room of a session (sockets of every node that joined it). */
export function sessionRoom(sessionId: string): string {
  return `session:${sessionId}`;
}
