/** Receives one published message. */
export type MessageHandler = (message: string) => void;

/** Receives one published binary message. */
export type BufferHandler = (message: Buffer) => void;

/**
 * Fire-and-forget messages between the nodes of a cluster (Redis pub/sub), or within the
 * one process of the embedded default. Delivery is at most once: callers that need every
 * message must be able to fill gaps from the database.
 */
export interface PubSub {
  /** Sends `message` to every current subscriber of `channel` on every node. */
  publish(channel: string, message: string): Promise<void>;
  /** Calls `handler` for each message on `channel` until the returned function is called. */
  subscribe(channel: string, handler: MessageHandler): Promise<() => Promise<void>>;
  /**
   * Sends bytes as they are (no text encoding) to every current binary subscriber of
   * `channel` on every node. Messages from one instance reach each subscriber in the order
   * they were published; like `publish`, at most once.
   */
  publishBuffer(channel: string, message: Buffer): Promise<void>;
  /**
   * Calls `handler` with the bytes of each message on `channel` until the returned function
   * is called. A channel carries bytes or text, not both: subscribe to it the way it is
   * published to.
   */
  subscribeBuffer(channel: string, handler: BufferHandler): Promise<() => Promise<void>>;
  /** One round trip to the backing service. */
  ping(): Promise<void>;
  /** Drops every subscription and closes connections. */
  close(): Promise<void>;
}

/**
 * Subscribes to a channel whose messages are JSON (`publish(channel, JSON.stringify(value))`):
 * `handler` gets each parsed value. A message that is not JSON, or that `handler` cannot use
 * (it throws: another version's shape, say, during a rolling upgrade), is not one of ours
 * and is dropped: a message from the bus never takes the node down.
 */
export function subscribeJson<T>(
  pubsub: PubSub,
  channel: string,
  handler: (value: T) => void,
): Promise<() => Promise<void>> {
  return pubsub.subscribe(channel, (raw) => {
    try {
      handler(JSON.parse(raw) as T);
    } catch {
      // Dropped, as above.
    }
  });
}
