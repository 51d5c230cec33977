import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { ServerOptions } from 'socket.io';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import { handledCommands, type RedisClient } from '../redis/connection.js';
import { openPubSubConnections } from './connections.js';

/** What `new Server({ adapter })` takes: the Socket.IO adapter between nodes. */
export type SocketIoAdapter = ServerOptions['adapter'];

/**
 * The Socket.IO adapter that carries room broadcasts between nodes: `@socket.io/redis-adapter`
 * on two connections of its own, in its sharded mode on a Redis Cluster (SPUBLISH to the
 * master of each room's channel, not to every node of the cluster); undefined on the
 * embedded default (one node, Socket.IO's in-process adapter).
 */
export async function openSocketIoAdapter(deps: {
  redis: RedisClient | undefined;
  logger: Logger;
  closers: Closers;
}): Promise<SocketIoAdapter | undefined> {
  if (deps.redis === undefined) return undefined;
  const sharded = deps.redis.isCluster;
  // The adapter subscribes as soon as it exists and has no way to retry: its connections
  // queue commands while they connect, and it leaves the outcome of what it sends unhandled.
  const connections = await openPubSubConnections(deps.redis, deps, { name: 'adapter', sharded, offlineQueue: true });
  const pub = handledCommands(connections.publisher);
  const sub = handledCommands(connections.subscriber);
  const key = `${connections.channelPrefix}vh:io`;
  return sharded ? createShardedAdapter(pub, sub, { channelPrefix: key }) : createAdapter(pub, sub, { key });
}
