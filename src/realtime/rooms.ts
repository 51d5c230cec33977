import type { Audience, Push } from '../services/notifier.js';
import type { AppServer } from './io-server.js';

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

/** Hands a push from any node to this node's sockets of its audience. */
export function deliverLocally(io: AppServer, audience: Audience, push: Push): void {
  const room = 'userId' in audience ? userRoom(audience.userId) : sessionRoom(audience.sessionId);
  const emit = io.to(room).local.emit.bind(io.to(room).local) as (event: string, payload: unknown) => boolean;
  emit(push.event, push.payload);
}
