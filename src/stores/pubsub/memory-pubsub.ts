import type { BufferHandler, MessageHandler, PubSub } from './pubsub.js';

type Handler = { text: MessageHandler } | { binary: BufferHandler };

/** In-process pub/sub for the single-node embedded default. */
export class MemoryPubSub implements PubSub {
  private readonly channels = new Map<string, Set<Handler>>();

  async publish(channel: string, message: string): Promise<void> {
    // Delivered asynchronously, like Redis, so publishers never run subscriber code inline.
    for (const handler of [...(this.channels.get(channel) ?? [])])
      if ('text' in handler) queueMicrotask(() => handler.text(message));
  }

  async subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>> {
    return this.add(channel, { text: handler });
  }

  async publishBuffer(channel: string, message: Buffer): Promise<void> {
    for (const handler of [...(this.channels.get(channel) ?? [])])
      if ('binary' in handler) queueMicrotask(() => handler.binary(message));
  }

  async subscribeBuffer(channel: string, handler: BufferHandler): Promise<() => Promise<void>> {
    return this.add(channel, { binary: handler });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.channels.clear();
  }

  private add(channel: string, handler: Handler): () => Promise<void> {
    let handlers = this.channels.get(channel);
    if (handlers === undefined) {
      handlers = new Set();
      this.channels.set(channel, handlers);
    }
    const set = handlers;
    set.add(handler);
    return async () => {
      set.delete(handler);
      if (set.size === 0 && this.channels.get(channel) === set) this.channels.delete(channel);
    };
  }
}
