/** What one node does to its own sockets: end one, end an owner's, hand them a push from any node. */
import type { DisconnectNotice } from '../../protocol/events.js';
import type { SocketOwner } from '../services/disconnector.js';
import type { Audience, Push } from '../services/notifier.js';
import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import { familyRoom, sessionRoom, userRoom } from './rooms.js';

/**
 * Ends one socket, telling it why first (`sys:disconnect`). When the client may come back
 * (`reconnect`), only the transport is closed, which a standard client answers by
 * reconnecting; otherwise the server disconnects it, after which it does not. Either way
 * the notice is written before the connection closes (engine.io flushes its buffer first).
 */
export function endSocket(socket: AppSocket, notice: DisconnectNotice): void {
  if (!socket.connected) return;
  socket.emit('sys:disconnect', notice);
  closeSocket(socket, notice.reconnect);
}

/** Ends a socket that was already told why: its transport only when the client may come back. */
export function closeSocket(socket: AppSocket, reconnect: boolean): void {
  if (!socket.connected) return;
  if (reconnect) socket.conn.close();
  else socket.disconnect(true);
}

/** Ends this node's sockets of an owner (a user, or one login's or key's tokens) with the notice. */
export function endOwnedSockets(io: AppServer, owner: SocketOwner, notice: DisconnectNotice): void {
  const namespace = io.of('/');
  const room = 'userId' in owner ? userRoom(owner.userId) : familyRoom(owner.familyId);
  for (const id of namespace.adapter.rooms.get(room) ?? []) {
    const socket = namespace.sockets.get(id);
    if (socket !== undefined) endSocket(socket, notice);
  }
}

/** Hands a push from any node to this node's sockets of its audience. */
export function deliverLocally(io: AppServer, audience: Audience, push: Push): void {
  const room = 'userId' in audience ? userRoom(audience.userId) : sessionRoom(audience.sessionId);
  const emit = io.to(room).local.emit.bind(io.to(room).local) as (event: string, payload: unknown) => boolean;
  emit(push.event, push.payload);
}
