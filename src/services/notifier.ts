import type { PushOf, ServerPushName } from '../../protocol/events.js';
import type { Logger } from '../logger.js';
import { channels } from '../stores/names.js';
import { type PubSub, subscribeJson } from '../stores/pubsub/pubsub.js';

const CHANNEL = channels.notify;

/** Who a push goes to: every socket of a user, or every member of a session. */
export type Audience = { userId: string } | { sessionId: string };

/** A push that the server sends outside any handler, with its payload. */
export type Push = { [E in ServerPushName]: { event: E; payload: PushOf<E> } }[ServerPushName];

/** How one node hands a push to its own sockets of an audience. */
export type LocalDelivery = (audience: Audience, push: Push) => void;

/**
 * How services reach users' sockets without knowing Socket.IO: a push is published on one
 * channel to every node (this one included), and each node's realtime layer delivers it to
 * its own sockets of the audience. At most once: a publish that fails is logged and the push
 * is lost (what it announces is always readable over HTTP too).
 */
export class Notifier {
  constructor(
    private readonly pubsub: PubSub,
    private readonly logger: Logger,
  ) {}

  /** Sends `push` to `audience` on every node. Never throws. */
  push(audience: Audience, push: Push): void {
    this.pubsub
      .publish(CHANNEL, JSON.stringify({ audience, push }))
      .catch((error: unknown) => this.logger.warn({ err: error, event: push.event }, 'a push to users was lost'));
  }

  /** Delivers every push, from any node, to this node's sockets; returns how to stop. */
  listen(deliver: LocalDelivery): Promise<() => Promise<void>> {
    return subscribeJson<{ audience: Audience; push: Push }>(this.pubsub, CHANNEL, ({ audience, push }) =>
      deliver(audience, push),
    );
  }
}
