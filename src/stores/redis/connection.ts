import type { Socket } from 'node:net';
import { Cluster, type ClusterOptions, Redis } from 'ioredis';
import type { Logger } from '../../logger.js';
import { holdWritesForTurn } from '../../util/cork.js';

/** One Redis server, or a Redis Cluster (every command is routed to its key's master). */
export type RedisClient = Redis | Cluster;

/** Where Redis is: `clusterNodes` (seed URLs) when it is a cluster, else `url`. */
export interface RedisTarget {
  url: string;
  clusterNodes: readonly string[];
  /** What every key starts with (REDIS_NAMESPACE). Default: nothing. */
  keyPrefix?: string;
}

/** Options of a Redis connection. */
export interface RedisOptions {
  /**
   * Queue commands while disconnected (default false): without the queue a command fails at
   * once during an outage (UNAVAILABLE, which clients retry) instead of waiting and running
   * late. Wait for `whenReady` before the first command.
   */
  offlineQueue?: boolean;
  /** A command that gets no reply within this many ms fails (a hung Redis). Default: none. */
  commandTimeoutMs?: number;
  /**
   * On a cluster: SSUBSCRIBE goes to the master of each channel's slot, over one subscriber
   * connection per master (needed for sharded pub/sub). Default false.
   */
  shardedSubscribers?: boolean;
  /**
   * Put in front of every key of every command (ioredis' `keyPrefix`). Not in front of
   * channels: ioredis would prefix sharded channels (SPUBLISH and SSUBSCRIBE name a key
   * slot) but not the others, so pub/sub connections go without it and prefix their
   * channels themselves (`openPubSubConnections`). Default: nothing.
   */
  keyPrefix?: string;
}

/**
 * The wire protocol of every connection: RESP2, as with ioredis 5. ioredis 6 speaks RESP3 by
 * default; the Lua scripts' replies, pub/sub on the adapter's and relay's connections and the
 * shapes the stores read were all written and tested against RESP2, so the upgrade keeps it
 * (RESP3 is a change of its own, to measure).
 */
export const RESP = 2;

/**
 * Host and port of each redis:// URL (a cluster's seed nodes, or one server), and the
 * credentials of the first one, which every node of a cluster is reached with (user,
 * password, TLS).
 */
export function redisEndpoints(urls: readonly string[]): {
  nodes: { host: string; port: number }[];
  credentials: { username?: string; password?: string; tls?: object };
} {
  const seed = new URL(urls[0] as string);
  return {
    nodes: urls.map((url) => {
      const parsed = new URL(url);
      return { host: parsed.hostname, port: Number(parsed.port === '' ? 6379 : parsed.port) };
    }),
    credentials: {
      ...(seed.username === '' ? {} : { username: decodeURIComponent(seed.username) }),
      ...(seed.password === '' ? {} : { password: decodeURIComponent(seed.password) }),
      ...(seed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

/**
 * A connection to the configured Redis: `createRedis` on one server, a `Cluster` client on a
 * Redis Cluster (the seed nodes' credentials are used for every node it discovers); every key
 * behind the target's `keyPrefix`.
 */
export function connectRedis(
  target: RedisTarget,
  logger: Logger,
  name: string,
  options: RedisOptions = {},
): RedisClient {
  const keyPrefix = target.keyPrefix ?? '';
  if (target.clusterNodes.length === 0) return createRedis(target.url, logger, name, { ...options, keyPrefix });
  const { nodes, credentials } = redisEndpoints(target.clusterNodes);
  const clusterOptions: ClusterOptions = {
    keyPrefix,
    enableOfflineQueue: options.offlineQueue ?? false,
    enableAutoPipelining: false,
    shardedSubscribers: options.shardedSubscribers ?? false,
    clusterRetryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
    redisOptions: {
      ...credentials,
      ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
      connectionName: `voicehelper:${name}`,
      maxRetriesPerRequest: 2,
      protocol: RESP,
    },
  };
  const client = new Cluster(nodes, clusterOptions);
  logFailures(client, logger, name);
  return client;
}

/**
 * A Redis connection with the settings every user of Redis in the server shares. Connection
 * errors are logged once per outage (ioredis retries by itself), never thrown at the process.
 */
export function createRedis(url: string, logger: Logger, name: string, options: RedisOptions = {}): Redis {
  const client = new Redis(url, {
    keyPrefix: options.keyPrefix ?? '',
    enableOfflineQueue: options.offlineQueue ?? false,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs }),
    connectionName: `voicehelper:${name}`,
    maxRetriesPerRequest: 2,
    protocol: RESP,
    // Auto-pipelining is off: when a connection drops with commands in flight, ioredis 5's
    // auto-pipeline throws an uncaught TypeError (results[i] is not iterable) that would
    // take the node down.
    enableAutoPipelining: false,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  });
  logFailures(client, logger, name);
  return coalesceWrites(client);
}

/**
 * Commands sent during one turn of the event loop leave in one write: the connection's
 * socket is corked at the first command of a turn and uncorked right after the turn. On a
 * busy node a write syscall per command is most of what Redis costs it (on loopback the
 * sender even pays for the receiver's TCP work). Replies and errors stay per command.
 * (ioredis' own auto-pipelining stays off: it throws uncaught errors when a connection
 * drops mid-pipeline.)
 */
function coalesceWrites(client: Redis): Redis {
  const send = client.sendCommand.bind(client) as (...args: unknown[]) => unknown;
  client.sendCommand = ((...args: unknown[]) => {
    // The stream changes at every reconnection; before `ready`, ioredis writes its own
    // handshake and must not be held.
    const stream = (client as unknown as { stream?: Socket }).stream;
    if (client.status === 'ready' && stream !== undefined) holdWritesForTurn(stream);
    return send(...args);
  }) as Redis['sendCommand'];
  return client;
}

/**
 * A second connection with the same settings (pub/sub needs its own), with its failures
 * logged like the first's: a duplicate does not inherit listeners, and an ioredis client
 * without an 'error' listener prints every reconnection failure to stderr.
 */
export function duplicateRedis<C extends RedisClient>(
  client: C,
  logger: Logger,
  name: string,
  options: RedisOptions = {},
): C {
  if (client instanceof Cluster) {
    const copy = client.duplicate([], {
      ...(options.offlineQueue === undefined ? {} : { enableOfflineQueue: options.offlineQueue }),
      ...(options.shardedSubscribers === undefined ? {} : { shardedSubscribers: options.shardedSubscribers }),
      ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
      redisOptions: { ...client.options.redisOptions, connectionName: `voicehelper:${name}` },
    });
    logFailures(copy, logger, name);
    return copy as C;
  }
  const copy = (client as Redis).duplicate({
    connectionName: `voicehelper:${name}`,
    ...(options.offlineQueue === undefined ? {} : { enableOfflineQueue: options.offlineQueue }),
    ...(options.keyPrefix === undefined ? {} : { keyPrefix: options.keyPrefix }),
  });
  logFailures(copy, logger, name);
  return coalesceWrites(copy) as C;
}

function logFailures(client: RedisClient, logger: Logger, name: string): void {
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err: error, connection: name }, 'Redis connection failed; retrying');
  });
  client.on('ready', () => {
    if (down) logger.info({ connection: name }, 'Redis connection restored');
    down = false;
  });
}

/** Resolves once the connection is ready (needed before use without the offline queue). */
export function whenReady(client: RedisClient, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis did not become ready in time')), timeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The Socket.IO Redis adapter sends commands without handling their outcome (SUBSCRIBE
 * when it is created, UNSUBSCRIBE when it closes, PUBLISH for each broadcast); during a
 * Redis outage their rejections would be unhandled. On the adapter's connections every
 * command's failure counts as handled (a caller that awaits one still sees it); the
 * connection's own failures are logged by `logFailures`.
 */
export function handledCommands<C extends RedisClient>(client: C): C {
  const send = client.sendCommand.bind(client) as Redis['sendCommand'];
  client.sendCommand = ((...args: Parameters<Redis['sendCommand']>) => {
    const result = send(...args);
    args[0].promise.catch(() => undefined);
    return result;
  }) as Redis['sendCommand'] & Cluster['sendCommand'];
  return client;
}
