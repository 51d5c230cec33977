import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import type { RedisClient } from '../redis/connection.js';
import { openPubSubConnections } from './connections.js';
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
  if (deps.redis === undefined) pubsub = new MemoryPubSub();
  else {
    const sharded = deps.redis.isCluster;
    const connections = await openPubSubConnections(deps.redis, deps, { name: 'pubsub', sharded });
    pubsub = new RedisPubSub(connections, { timeoutMs: config.dependencyTimeoutMs, sharded });
  }
  deps.closers.add('pub/sub', () => pubsub.close());
  return pubsub;
}
