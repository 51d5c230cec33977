import { DependencyTimeoutError } from '../../errors/app-error.js';
import { withDeadline } from '../../util/timeout.js';
import type { RedisClient } from '../redis/connection.js';
import type { BufferHandler, MessageHandler, PubSub } from './pubsub.js';

type Handler = { text: MessageHandler } | { binary: BufferHandler };

/**
 * Redis pub/sub: one connection publishes, a dedicated one subscribes. A subscription that
 * Redis does not confirm within `timeoutMs` fails (a subscriber connection waits for Redis
 * without limit otherwise). `sharded` (on a Redis Cluster) uses Redis 7's sharded pub/sub:
 * SPUBLISH reaches only the master of the channel's slot, where the subscribers of that
 * channel are (the subscriber connection must be made with `shardedSubscribers`), instead
 * of every node of the cluster. Every channel name goes to Redis behind `channelPrefix`
 * (the deployment's namespace).
 */
export class RedisPubSub implements PubSub {
  /** By channel name as Redis knows it (with the prefix). */
  private readonly handlers = new Map<string, Set<Handler>>();
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly sharded: boolean;

  constructor(
    connections: { publisher: RedisClient; subscriber: RedisClient; channelPrefix?: string },
    options: {
      /** How long a (un)subscription may wait for Redis (`DEPENDENCY_TIMEOUT_MS`). */
      timeoutMs: number;
      /** Redis 7 sharded pub/sub, on a Redis Cluster. */
      sharded: boolean;
    },
  ) {
    this.publisher = connections.publisher;
    this.subscriber = connections.subscriber;
    this.prefix = connections.channelPrefix ?? '';
    this.timeoutMs = options.timeoutMs;
    this.sharded = options.sharded;
    // Every message arrives as bytes; text subscribers get it decoded (UTF-8), once.
    this.subscriber.on(this.sharded ? 'smessageBuffer' : 'messageBuffer', (channel: Buffer, message: Buffer) => {
      const handlers = this.handlers.get(channel.toString());
      if (handlers === undefined) return;
      let text: string | undefined;
      for (const handler of [...handlers]) {
        if ('binary' in handler) handler.binary(message);
        else {
          if (text === undefined) text = message.toString();
          handler.text(text);
        }
      }
    });
  }

  async publishBuffer(name: string, message: Buffer): Promise<void> {
    await this.publish(name, message);
  }

  async publish(name: string, message: string | Buffer): Promise<void> {
    const channel = this.prefix + name;
    await (this.sharded ? this.publisher.spublish(channel, message) : this.publisher.publish(channel, message));
  }

  private listen(channel: string): Promise<unknown> {
    return this.sharded ? this.subscriber.ssubscribe(channel) : this.subscriber.subscribe(channel);
  }

  private unlisten(channel: string): Promise<unknown> {
    return this.sharded ? this.subscriber.sunsubscribe(channel) : this.subscriber.unsubscribe(channel);
  }

  async subscribe(name: string, handler: MessageHandler): Promise<() => Promise<void>> {
    return this.add(name, { text: handler });
  }

  async subscribeBuffer(name: string, handler: BufferHandler): Promise<() => Promise<void>> {
    return this.add(name, { binary: handler });
  }

  private async add(name: string, handler: Handler): Promise<() => Promise<void>> {
    const channel = this.prefix + name;
    let set = this.handlers.get(channel);
    if (set === undefined) {
      const created = new Set<Handler>();
      set = created;
      this.handlers.set(channel, created);
      const subscribed = this.listen(channel);
      try {
        await withDeadline(
          subscribed,
          this.timeoutMs,
          () => new DependencyTimeoutError('Redis SUBSCRIBE', this.timeoutMs),
        );
      } catch (error) {
        // Should the late SUBSCRIBE still go through, nobody listens: undo it.
        subscribed.then(
          () => (this.handlers.has(channel) ? undefined : this.unlisten(channel).catch(() => undefined)),
          () => undefined,
        );
        // Not subscribed: the next subscriber of the channel must try again.
        if (this.handlers.get(channel) === created && created.size === 0) this.handlers.delete(channel);
        throw error;
      }
    }
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0 && this.handlers.get(channel) === set) {
        this.handlers.delete(channel);
        // Redis unreachable: nothing to undo now (messages for a channel without handlers are ignored).
        await this.unlisten(channel).catch(() => undefined);
      }
    };
  }

  async ping(): Promise<void> {
    await this.publisher.ping();
  }

  async close(): Promise<void> {
    this.handlers.clear();
    await Promise.allSettled([this.subscriber.quit(), this.publisher.quit()]);
  }
}
