import type { Config, DependencyName } from '../config/config.js';
import type { Logger } from '../logger.js';
import { Closers } from '../util/closers.js';
import type { Cache } from './cache/cache.js';
import { openCache } from './cache/open-cache.js';
import type { Embedder } from './embeddings/embedder.js';
import { openEmbedder } from './embeddings/open-embedder.js';
import type { GraphStore } from './graph/graph-store.js';
import { openGraphStore } from './graph/open-graph.js';
import { type FixedWindows, openFixedWindows } from './limits/fixed-windows.js';
import type { LockManager } from './locks/lock-manager.js';
import { openLockManager } from './locks/open-locks.js';
import type { MessageStore } from './messages/message-store.js';
import { PostgresMessageStore } from './messages/postgres-message-store.js';
import type { ObjectStore } from './objects/object-store.js';
import { startObjectStore } from './objects/open-object-store.js';
import { openPostgres, type Repositories } from './postgres/open-postgres.js';
import { schedulePartitionMaintenance } from './postgres/partitions.js';
import { pingPool } from './postgres/pool.js';
import { openPresence } from './presence/open-presence.js';
import type { PresenceStore } from './presence/presence-store.js';
import { openPubSub } from './pubsub/open-pubsub.js';
import { openSocketIoAdapter, type SocketIoAdapter } from './pubsub/open-socketio-adapter.js';
import type { PubSub } from './pubsub/pubsub.js';
import { openRedis } from './redis/open-redis.js';
import { openStreamBuffer } from './streams/open-streams.js';
import type { StreamBuffer } from './streams/stream-buffer.js';
import { openTurnStore } from './turns/open-turns.js';
import type { TurnStore } from './turns/turn-store.js';
import { openVectorIndex } from './vectors/open-vector-index.js';
import type { VectorIndex } from './vectors/vector-index.js';

export type { Repositories } from './postgres/open-postgres.js';

/** One dependency as readiness checks see it. */
export interface Dependency {
  name: DependencyName;
  /** `external` (a real service from configuration) or `embedded`. */
  mode: 'external' | 'embedded';
  ping(): Promise<void>;
}

/** Every store of one node, opened from configuration. */
export interface Stores {
  readonly db: Repositories;
  readonly messages: MessageStore;
  readonly pubsub: PubSub;
  /** Room broadcasts between nodes for Socket.IO; undefined on the embedded default (one node). */
  readonly ioAdapter: SocketIoAdapter | undefined;
  /** The fixed-window limiters (logins, registrations, HTTP): in Redis when nodes share one. */
  readonly fixedWindows: FixedWindows;
  readonly cache: Cache;
  readonly presence: PresenceStore;
  readonly streams: StreamBuffer;
  /** The turn clock of each session (turn latency). */
  readonly turns: TurnStore;
  readonly locks: LockManager;
  readonly objects: ObjectStore;
  readonly vectors: VectorIndex;
  /** Text to vectors: EMBEDDINGS_URL, or the built-in local embedder. */
  readonly embedder: Embedder;
  readonly graph: GraphStore;
  readonly dependencies: readonly Dependency[];
  /** Closes every store, newest first; never throws. */
  close(): Promise<void>;
}

/** Things the stores need from the app that are not configuration. */
export interface StoreContext {
  logger: Logger;
  /** Base URL of this node (known only after listen when PORT=0). */
  publicUrl: () => string;
  /** Connect to the embedded PostgreSQL a running node serves instead of starting one (the CLI). */
  attachPostgres?: boolean;
}

/**
 * Opens every store the configuration asks for, each through its port's opener (the real
 * service when its variable is set, the embedded equivalent otherwise), registering how to
 * close it. Required stores must answer at start; the vector index and graph initialise in
 * the background when they are down at start (retrieval degrades without them), and
 * `/readyz` reports them.
 */
export async function openStores(config: Config, context: StoreContext): Promise<Stores> {
  const { logger } = context;
  const closers = new Closers(logger, config.shutdownTimeoutMs);
  try {
    const { pool, db } = await openPostgres(config, { logger, closers, attach: context.attachPostgres === true });
    const messages = new PostgresMessageStore(pool, {
      groupCommit: config.database.groupCommit,
      limits: config.messages,
    });
    // Closed before the pool (newest first): queued messages are committed.
    closers.add('message store', () => messages.close());

    const client = await openRedis(config, { logger, closers });
    const pubsub = await openPubSub(config, { redis: client, logger, closers });
    const ioAdapter = await openSocketIoAdapter({ redis: client, logger, closers });
    const fixedWindows = openFixedWindows({ redis: client });
    const locks = openLockManager(config, { redis: client, fences: db.fences, logger, closers });
    const stopMaintenance = schedulePartitionMaintenance(pool, config.database.partitions, logger, locks);
    closers.add('partition maintenance', stopMaintenance);
    const cache = openCache({ redis: client });
    const presence = openPresence(config, { redis: client });
    const streams = openStreamBuffer(config, { redis: client });
    const turns = openTurnStore({ redis: client });

    const objects = await startObjectStore(config, { publicUrl: context.publicUrl, pool, closers });

    const vectors = openVectorIndex(config, { pool, pubsub, logger });
    closers.add('vector index', () => vectors.close());
    const embedder = openEmbedder(config);
    const graph = openGraphStore(config, { pool });
    closers.add('graph store', () => graph.close());
    // Creating and loading a Milvus collection can take seconds, so the start waits for
    // several probe timeouts before it goes on without an initialised index.
    const initWaitMs = config.dependencyTimeoutMs * 5;
    const [stopVector, stopGraph] = await Promise.all([
      initWithRetry('vector', () => vectors.init(), logger, initWaitMs),
      initWithRetry('graph', () => graph.init(), logger, initWaitMs),
    ]);
    closers.add('init retries', () => {
      stopVector();
      stopGraph();
    });

    const dependencies: Dependency[] = [
      {
        name: 'postgres',
        mode: config.postgres.mode === 'external' ? 'external' : 'embedded',
        ping: () => pingPool(pool),
      },
      {
        name: 'redis',
        mode: client === undefined ? 'embedded' : 'external',
        ping: async () => {
          await client?.ping();
        },
      },
      { name: 'objects', mode: config.objects.mode === 's3' ? 'external' : 'embedded', ping: () => objects.ping() },
      { name: 'vector', mode: config.vector.mode === 'milvus' ? 'external' : 'embedded', ping: () => vectors.ping() },
      { name: 'graph', mode: config.graph.mode === 'neo4j' ? 'external' : 'embedded', ping: () => graph.ping() },
    ];
    return {
      db,
      messages,
      pubsub,
      ioAdapter,
      fixedWindows,
      cache,
      presence,
      streams,
      turns,
      locks,
      objects,
      vectors,
      embedder,
      graph,
      dependencies,
      close: () => closers.closeAll(),
    };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/**
 * Runs `init` now and, if it fails, again every 5 s in the background until it succeeds.
 * Waits for the first attempt at most `waitMs`, so that a dependency that is down does not
 * hold up the start. Returns a function that stops the retries.
 */
async function initWithRetry(
  name: DependencyName,
  init: () => Promise<void>,
  logger: Logger,
  waitMs: number,
): Promise<() => void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async (): Promise<void> => {
    try {
      await init();
      if (timer !== undefined) logger.info({ dependency: name }, 'dependency initialised');
    } catch (error) {
      if (stopped) return;
      logger.warn({ err: error, dependency: name }, 'dependency not ready at start; retrying in 5 s');
      timer = setTimeout(() => void attempt(), 5_000);
      timer.unref();
    }
  };
  let waitTimer: NodeJS.Timeout | undefined;
  await Promise.race([attempt(), new Promise<void>((resolve) => (waitTimer = setTimeout(resolve, waitMs)))]);
  clearTimeout(waitTimer);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
