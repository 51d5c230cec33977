import type { Logger } from '../logger.js';
import type { AppServer } from './io-server.js';
import { familyRoom, userRoom } from './rooms.js';

/**
 * Ends sockets on every node of the cluster (through the adapter): all of a user's, when
 * their roles or status changed, or those opened from one refresh-token family, at its
 * logout. Bound to the Socket.IO server once it exists; until then there are none to end.
 * Never throws: it runs after a committed change, and the privilege sweep catches any
 * socket a failed broadcast missed.
 */
export class Disconnector {
  private io: AppServer | undefined;

  constructor(private readonly logger: Logger) {}

  attach(io: AppServer): void {
    this.io = io;
  }

  user(userId: string): Promise<void> {
    return this.end(userRoom(userId));
  }

  family(familyId: string): Promise<void> {
    return this.end(familyRoom(familyId));
  }

  private async end(room: string): Promise<void> {
    try {
      await this.io?.in(room).disconnectSockets(true);
    } catch (error) {
      this.logger.warn({ err: error, room }, 'ending sockets on every node failed; the privilege sweep will');
    }
  }
}
