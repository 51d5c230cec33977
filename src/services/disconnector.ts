import type { DisconnectNotice } from '../../protocol/events.js';
import type { Logger } from '../logger.js';
import { channels, rooms } from '../stores/names.js';
import { type PubSub, subscribeJson } from '../stores/pubsub/pubsub.js';

/** Whose sockets to end: all of a user's, or those opened with one login's (or API key's) tokens. */
export type SocketOwner = { userId: string } | { familyId: string };

/** How one node ends its own sockets of an owner, telling them why. */
export type LocalEnding = (owner: SocketOwner, notice: DisconnectNotice) => void;

/**
 * Ends sockets on every node of the cluster: all of a user's, when their roles or status
 * changed, or those of one login or API key, when it was logged out or revoked. The request
 * goes to every node over pub/sub and each ends its own sockets with the notice; this node's
 * end at once, before the announcement. Never throws: it runs after a committed change, and
 * the privilege sweep ends any socket a lost announcement missed.
 */
export class Disconnector {
  private local: LocalEnding | undefined;

  constructor(
    private readonly pubsub: PubSub,
    private readonly logger: Logger,
  ) {}

  /** Ends this node's sockets for every request, from any node; returns how to stop. */
  async listen(end: LocalEnding): Promise<() => Promise<void>> {
    this.local = end;
    const unsubscribe = await subscribeJson<{ owner?: SocketOwner; room?: string; notice: DisconnectNotice }>(
      this.pubsub,
      channels.disconnect,
      ({ owner, room, notice }) => {
        const target = owner ?? ownerOfRoom(room);
        if (target !== undefined) end(target, notice);
      },
    );
    return async () => {
      this.local = undefined;
      await unsubscribe().catch(() => undefined);
    };
  }

  /** All sockets of a user: `role_changed` (they come back with the new role) or `disabled`. */
  user(userId: string, reason: 'role_changed' | 'disabled'): Promise<void> {
    return this.end({ userId }, { reason, reconnect: reason === 'role_changed' });
  }

  /** The sockets opened with one login's or API key's tokens, at its logout or revocation. */
  family(familyId: string): Promise<void> {
    return this.end({ familyId }, { reason: 'logged_out', reconnect: false });
  }

  private async end(owner: SocketOwner, notice: DisconnectNotice): Promise<void> {
    // This node's at once; the others when the announcement reaches them. The room is what
    // nodes of the previous release read, so that a rolling upgrade misses nobody.
    this.local?.(owner, notice);
    const room = 'userId' in owner ? rooms.user(owner.userId) : rooms.family(owner.familyId);
    try {
      await this.pubsub.publish(channels.disconnect, JSON.stringify({ owner, room, notice }));
    } catch (error) {
      this.logger.warn(
        { err: error, owner },
        'telling the other nodes to end sockets failed; the privilege sweep will',
      );
    }
  }
}

/** The owner of a room as nodes of the previous release name it (`user:<id>`, `family:<id>`). */
function ownerOfRoom(room: string | undefined): SocketOwner | undefined {
  const userPrefix = rooms.user('');
  const familyPrefix = rooms.family('');
  if (room?.startsWith(userPrefix) === true) return { userId: room.slice(userPrefix.length) };
  if (room?.startsWith(familyPrefix) === true) return { familyId: room.slice(familyPrefix.length) };
  return undefined;
}
