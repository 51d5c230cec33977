import type { DisconnectNotice } from '../../protocol/events.js';
import type { Logger } from '../logger.js';
import type { PubSub } from '../stores/pubsub/pubsub.js';
import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import { familyRoom, userRoom } from './rooms.js';

const CHANNEL = 'vh:disconnect';

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

/**
 * Ends sockets on every node of the cluster: all of a user's, when their roles or status
 * changed, or those opened from one refresh-token family, at its logout. The request goes
 * to every node over pub/sub, and each ends its own sockets of that room with the notice.
 * Bound to the Socket.IO server once it exists; until then there are none to end. Never
 * throws: it runs after a committed change, and the privilege sweep catches any socket a
 * lost announcement missed.
 */
export class Disconnector {
  private io: AppServer | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly pubsub: PubSub,
    private readonly logger: Logger,
  ) {}

  async attach(io: AppServer): Promise<void> {
    this.io = io;
    this.unsubscribe = await this.pubsub.subscribe(CHANNEL, (raw) => {
      try {
        const { room, notice } = JSON.parse(raw) as { room: string; notice: DisconnectNotice };
        this.endLocal(room, notice);
      } catch {
        // Not one of ours.
      }
    });
  }

  async detach(): Promise<void> {
    await this.unsubscribe?.().catch(() => undefined);
  }

  /** All sockets of a user: `role_changed` (they come back with the new role) or `disabled`. */
  user(userId: string, reason: 'role_changed' | 'disabled'): Promise<void> {
    return this.end(userRoom(userId), { reason, reconnect: reason === 'role_changed' });
  }

  /** The sockets opened with one login's tokens, at its logout. */
  family(familyId: string): Promise<void> {
    return this.end(familyRoom(familyId), { reason: 'logged_out', reconnect: false });
  }

  /** This node's sockets in a room. */
  endLocal(room: string, notice: DisconnectNotice): void {
    const namespace = this.io?.of('/');
    for (const id of namespace?.adapter.rooms.get(room) ?? []) {
      const socket = namespace?.sockets.get(id);
      if (socket !== undefined) endSocket(socket, notice);
    }
  }

  private async end(room: string, notice: DisconnectNotice): Promise<void> {
    // This node's at once; the others when the announcement reaches them.
    this.endLocal(room, notice);
    try {
      await this.pubsub.publish(CHANNEL, JSON.stringify({ room, notice }));
    } catch (error) {
      this.logger.warn({ err: error, room }, 'telling the other nodes to end sockets failed; the privilege sweep will');
    }
  }
}
