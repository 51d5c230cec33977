import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import { duplicateRedis, type RedisClient, whenReady } from '../redis/connection.js';

/**
 * A publishing and a subscribing connection of their own, duplicated from the command
 * connection, answering before they are handed out (a SUBSCRIBE sent before the connection
 * was ready could go unconfirmed, and ioredis resubscribes only what was confirmed), and
 * closed with the stores. `sharded` (a Redis Cluster) subscribes to each master. They put no
 * prefix in front of keys: the namespace's prefix (`channelPrefix`, the command connection's
 * key prefix) goes in front of every channel name by the user's hand (see RedisOptions).
 */
export async function openPubSubConnections(
  redis: RedisClient,
  deps: { logger: Logger; closers: Closers },
  options: { name: string; sharded: boolean; offlineQueue?: boolean },
): Promise<{ publisher: RedisClient; subscriber: RedisClient; channelPrefix: string }> {
  const queue = options.offlineQueue === undefined ? {} : { offlineQueue: options.offlineQueue };
  const publisher = duplicateRedis(redis, deps.logger, `${options.name}-pub`, { ...queue, keyPrefix: '' });
  const subscriber = duplicateRedis(redis, deps.logger, `${options.name}-sub`, {
    ...queue,
    shardedSubscribers: options.sharded,
    keyPrefix: '',
  });
  deps.closers.add(`${options.name} connections`, () => {
    publisher.disconnect();
    subscriber.disconnect();
  });
  await Promise.all([whenReady(publisher), whenReady(subscriber)]);
  return { publisher, subscriber, channelPrefix: redis.options.keyPrefix ?? '' };
}
