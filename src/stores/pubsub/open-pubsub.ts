import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import { duplicateRedis, type RedisClient, whenReady } from '../redis/connection.js';
import { MemoryPubSub } from './memory-pubsub.js';
import type { PubSub } from './pubsub.js';
import { RedisPubSub } from './redis-pubsub.js';

/**
 * Pub/sub between nodes: on Redis (a publishing and a subscribing connection of its own;
 * sharded channels on a cluster), or in process on the embedded default.
 */
export async function openPubSub(
  config: Config,
  deps: { redis: RedisClient | undefined; logger: Logger; closers: Closers },
): Promise<PubSub> {
  let pubsub: PubSub;
  if (deps.redis === undefined || config.redis.mode !== 'external') pubsub = new MemoryPubSub();
  else {
    const sharded = config.redis.clusterNodes.length > 0;
    const publisher = duplicateRedis(deps.redis, deps.logger, 'publish');
    const subscriber = duplicateRedis(deps.redis, deps.logger, 'subscribe', { shardedSubscribers: sharded });
    deps.closers.add('pub/sub connections', () => {
      publisher.disconnect();
      subscriber.disconnect();
    });
    await Promise.all([whenReady(publisher), whenReady(subscriber)]);
    pubsub = new RedisPubSub(publisher, subscriber, config.dependencyTimeoutMs, sharded);
  }
  deps.closers.add('pub/sub', () => pubsub.close());
  return pubsub;
}
