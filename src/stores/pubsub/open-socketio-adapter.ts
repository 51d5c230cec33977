import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { ServerOptions } from 'socket.io';
import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import { duplicateRedis, handledCommands, type RedisClient, whenReady } from '../redis/connection.js';

/** What `new Server({ adapter })` takes: the Socket.IO adapter between nodes. */
export type SocketIoAdapter = ServerOptions['adapter'];

/**
 * The Socket.IO adapter that carries room broadcasts between nodes: `@socket.io/redis-adapter`
 * on two connections of its own, in its sharded mode on a Redis Cluster (SPUBLISH to the
 * master of each room's channel, not to every node of the cluster); undefined on the
 * embedded default (one node, Socket.IO's in-process adapter).
 */
export async function openSocketIoAdapter(
  config: Config,
  deps: { redis: RedisClient | undefined; logger: Logger; closers: Closers },
): Promise<SocketIoAdapter | undefined> {
  if (deps.redis === undefined || config.redis.mode !== 'external') return undefined;
  const sharded = config.redis.clusterNodes.length > 0;
  // The adapter subscribes as soon as it exists and has no way to retry: these two
  // connections queue commands while they connect.
  const pub = handledCommands(duplicateRedis(deps.redis, deps.logger, 'adapter-pub', { offlineQueue: true }));
  const sub = handledCommands(
    duplicateRedis(deps.redis, deps.logger, 'adapter-sub', { offlineQueue: true, shardedSubscribers: sharded }),
  );
  deps.closers.add('socket.io adapter connections', () => {
    pub.disconnect();
    sub.disconnect();
  });
  // Subscribed on a ready connection: a SUBSCRIBE that never got its reply would leave
  // this node deaf to other nodes' broadcasts (ioredis resubscribes only what was confirmed).
  await Promise.all([whenReady(pub), whenReady(sub)]);
  return sharded
    ? createShardedAdapter(pub, sub, { channelPrefix: 'vh:io' })
    : createAdapter(pub, sub, { key: 'vh:io' });
}
