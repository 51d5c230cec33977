import type pg from 'pg';
import type { Config } from '../config/config.js';
import type { DependencyName } from '../config/schema.js';
import type { Logger } from '../logger.js';
import { loadOrCreateSecret } from '../util/local-secrets.js';
import type { Cache } from './cache/cache.js';
import { MemoryCache } from './cache/memory-cache.js';
import { RedisCache } from './cache/redis-cache.js';
import type { Embedder } from './embeddings/embedder.js';
import { LocalEmbedder } from './embeddings/local-embedder.js';
import { OpenAiEmbedder } from './embeddings/openai-embedder.js';
import type { GraphStore } from './graph/graph-store.js';
import { Neo4jGraphStore } from './graph/neo4j-graph-store.js';
import { PostgresGraphStore } from './graph/postgres-graph-store.js';
import { fencingFloor } from './locks/fencing.js';
import type { LockManager } from './locks/lock-manager.js';
import { MemoryLockManager } from './locks/memory-lock-manager.js';
import { RedisLockManager } from './locks/redis-lock-manager.js';
import type { MessageStore } from './messages/message-store.js';
import { PostgresMessageStore } from './messages/postgres-message-store.js';
import { FsObjectStore } from './object/fs-object-store.js';
import type { ObjectStore } from './object/object-store.js';
import { S3ObjectStore } from './object/s3-object-store.js';
import { assertSharedObjectDirectory } from './object/shared-directory.js';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './postgres/embedded-postgres.js';
import { assertMigrated, migrate } from './postgres/migrator.js';
import { maintainPartitions, schedulePartitionMaintenance } from './postgres/partitions.js';
import { createPool, pingPool } from './postgres/pool.js';
import { AuditLog } from './postgres/repositories/audit.js';
import { ConfigRepository } from './postgres/repositories/configs.js';
import { DocumentRepository } from './postgres/repositories/documents.js';
import { SessionRepository } from './postgres/repositories/sessions.js';
import { UserRepository } from './postgres/repositories/users.js';
import { MemoryPresenceStore } from './presence/memory-presence-store.js';
import type { PresenceStore } from './presence/presence-store.js';
import { RedisPresenceStore } from './presence/redis-presence-store.js';
import { MemoryPubSub } from './pubsub/memory-pubsub.js';
import type { PubSub } from './pubsub/pubsub.js';
import { RedisPubSub } from './pubsub/redis-pubsub.js';
import { connectRedis, createRedis, duplicateRedis, type RedisClient, whenReady } from './redis/connection.js';
import { MemoryStreamBuffer } from './streams/memory-stream-buffer.js';
import { RedisStreamBuffer } from './streams/redis-stream-buffer.js';
import type { StreamBuffer } from './streams/stream-buffer.js';
import { MemoryTurnStore } from './turns/memory-turn-store.js';
import { RedisTurnStore } from './turns/redis-turn-store.js';
import type { TurnStore } from './turns/turn-store.js';
import { MilvusVectorIndex } from './vector/milvus-vector-index.js';
import { PostgresVectorIndex } from './vector/postgres-vector-index.js';
import type { VectorIndex } from './vector/vector-index.js';

/** One dependency as readiness checks see it. */
export interface Dependency {
  name: DependencyName;
  /** `external` (a real service from configuration) or `embedded`. */
  mode: 'external' | 'embedded';
  ping(): Promise<void>;
}

/** Every store of one node, opened from configuration. */
/** The typed repositories over PostgreSQL. */
export interface Repositories {
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  readonly documents: DocumentRepository;
  readonly configs: ConfigRepository;
  readonly audit: AuditLog;
}

export interface Stores {
  readonly pool: pg.Pool;
  readonly db: Repositories;
  readonly messages: MessageStore;
  /** The command connection when REDIS_URL is set (duplicate it for subscriptions). */
  readonly redis: { readonly client: RedisClient } | undefined;
  readonly pubsub: PubSub;
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
 * Opens every store the configuration asks for: the real service when its variable is
 * set, the embedded equivalent otherwise. Required stores must answer at start; the vector
 * index and graph initialise in the background when they are down at start (retrieval
 * degrades without them), and `/readyz` reports them.
 */
export async function openStores(config: Config, context: StoreContext): Promise<Stores> {
  const { logger } = context;
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers.reverse()) {
      await closer().catch((error: unknown) => logger.warn({ err: error }, 'closing a store failed'));
    }
    closers.length = 0;
  };

  try {
    let databaseUrl: string;
    if (config.postgres.mode === 'external') {
      databaseUrl = config.postgres.url;
    } else {
      const password = await loadOrCreateSecret(config.dataDir, 'postgres-password');
      const embedded: EmbeddedPostgresHandle = await startEmbeddedPostgres(
        { dir: config.postgres.dir, port: config.postgres.port, password, attach: context.attachPostgres === true },
        logger,
      );
      closers.push(() => embedded.stop());
      databaseUrl = embedded.url;
    }
    const pool = createPool(
      {
        url: databaseUrl,
        max: config.database.poolMax,
        applicationName: `voicehelper:${config.nodeId}`,
        statementTimeoutMs: config.database.timeouts.statementMs,
        lockTimeoutMs: config.database.timeouts.lockMs,
        idleInTransactionTimeoutMs: config.database.timeouts.idleInTransactionMs,
      },
      logger,
    );
    closers.push(() => pool.end());
    await pingPool(pool);
    if (config.migrateOnStart) await migrate(pool, logger);
    else await assertMigrated(pool);
    await maintainPartitions(pool, config.database.partitions, logger);
    const db: Repositories = {
      users: new UserRepository(pool),
      sessions: new SessionRepository(pool),
      documents: new DocumentRepository(pool),
      configs: new ConfigRepository(pool),
      audit: new AuditLog(pool, logger),
    };
    const messages = new PostgresMessageStore(pool, {
      groupCommit: config.database.groupCommit,
      limits: config.messages,
    });
    // Closed before the pool (closers run newest first): queued messages are committed.
    closers.push(() => messages.close());

    let redis: Stores['redis'];
    let pubsub: PubSub;
    if (config.redis.mode === 'external') {
      const client = connectRedis(config.redis, logger, 'command', { commandTimeoutMs: config.dependencyTimeoutMs });
      closers.push(async () => {
        client.disconnect();
      });
      await whenReady(client);
      await client.ping();
      redis = { client };
      const sharded = config.redis.clusterNodes.length > 0;
      const publisher = duplicateRedis(client, logger, 'publish');
      const subscriber = duplicateRedis(client, logger, 'subscribe', { shardedSubscribers: sharded });
      closers.push(async () => {
        publisher.disconnect();
        subscriber.disconnect();
      });
      await Promise.all([whenReady(publisher), whenReady(subscriber)]);
      pubsub = new RedisPubSub(publisher, subscriber, config.dependencyTimeoutMs, sharded);
    } else {
      redis = undefined;
      pubsub = new MemoryPubSub();
    }
    closers.push(() => pubsub.close());
    const floor = (resource: string) => fencingFloor(pool, resource);
    let locks: LockManager;
    if (redis === undefined || config.redis.mode !== 'external') locks = new MemoryLockManager(floor);
    else if (config.redis.lockUrls.length === 0) locks = new RedisLockManager(redis.client, floor);
    else {
      // Redlock's masters: a command waits for a master that is (re)connecting, and each
      // answers or fails within the dependency timeout, so a minority down costs nothing
      // (the majority answers first) and a majority down fails acquisition in that time.
      const masters = config.redis.lockUrls.map((url, i) =>
        createRedis(url, logger, `lock-${i}`, { commandTimeoutMs: config.dependencyTimeoutMs, offlineQueue: true }),
      );
      closers.push(async () => {
        for (const master of masters) master.disconnect();
      });
      locks = new RedisLockManager(redis.client, floor, masters);
    }
    const stopMaintenance = schedulePartitionMaintenance(pool, config.database.partitions, logger, locks);
    closers.push(async () => stopMaintenance());
    const cache: Cache = redis === undefined ? new MemoryCache() : new RedisCache(redis.client);
    const presence: PresenceStore =
      redis === undefined
        ? new MemoryPresenceStore()
        : new RedisPresenceStore(redis.client, config.nodeId, config.streams.nodeAliveMs);
    const streams: StreamBuffer =
      redis === undefined
        ? new MemoryStreamBuffer(config.messages.maxContentBytes)
        : new RedisStreamBuffer(redis.client, config.messages.maxContentBytes);

    const turns: TurnStore = redis === undefined ? new MemoryTurnStore() : new RedisTurnStore(redis.client);
    const objects = await createObjectStore(config, context.publicUrl);
    await objects.init();
    closers.push(() => objects.close());
    // A directory is shared state: with a PostgreSQL other nodes may use, make sure they see the same one.
    if (objects instanceof FsObjectStore && config.postgres.mode === 'external') {
      await assertSharedObjectDirectory(pool, objects.root, objects.bucket);
    }

    const vectors: VectorIndex =
      config.vector.mode === 'milvus'
        ? new MilvusVectorIndex({
            address: config.vector.address,
            token: config.vector.token,
            collection: config.vector.collection,
            dimension: config.embeddings.dim,
            searchEf: config.vector.searchEf,
          })
        : new PostgresVectorIndex(pool, pubsub, logger, {
            collection: config.vector.collection,
            dimension: config.embeddings.dim,
            legacySnapshotDir: config.vector.legacyDir,
          });
    closers.push(() => vectors.close());

    const embedder: Embedder =
      config.embeddings.url === undefined
        ? new LocalEmbedder(config.embeddings.dim)
        : new OpenAiEmbedder({
            url: config.embeddings.url,
            model: config.embeddings.model,
            apiKey: config.embeddings.apiKey,
            dimension: config.embeddings.dim,
          });

    const graph = createGraphStore(config, pool);
    closers.push(() => graph.close());

    const stopRetries: Array<() => void> = [];
    closers.push(async () => {
      for (const stop of stopRetries) stop();
    });
    // Creating and loading a Milvus collection can take seconds, so the start waits for
    // several probe timeouts before it goes on without an initialised index.
    const initWaitMs = config.dependencyTimeoutMs * 5;
    const [stopVector, stopGraph] = await Promise.all([
      initWithRetry('vector', () => vectors.init(), logger, initWaitMs),
      initWithRetry('graph', () => graph.init(), logger, initWaitMs),
    ]);
    stopRetries.push(stopVector, stopGraph);

    const dependencies: Dependency[] = [
      {
        name: 'postgres',
        mode: config.postgres.mode === 'external' ? 'external' : 'embedded',
        ping: () => pingPool(pool),
      },
      {
        name: 'redis',
        mode: redis === undefined ? 'embedded' : 'external',
        ping: async () => {
          if (redis !== undefined) await redis.client.ping();
        },
      },
      { name: 'objects', mode: config.objects.mode === 's3' ? 'external' : 'embedded', ping: () => objects.ping() },
      { name: 'vector', mode: config.vector.mode === 'milvus' ? 'external' : 'embedded', ping: () => vectors.ping() },
      { name: 'graph', mode: config.graph.mode === 'neo4j' ? 'external' : 'embedded', ping: () => graph.ping() },
    ];
    return {
      pool,
      db,
      messages,
      redis,
      pubsub,
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
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The object store the configuration names (S3, or the directory of the embedded default); not yet initialised. */
export async function createObjectStore(config: Config, publicUrl: () => string): Promise<ObjectStore> {
  return config.objects.mode === 's3'
    ? new S3ObjectStore(config.objects)
    : new FsObjectStore({
        dir: config.objects.dir,
        bucket: config.objects.bucket,
        publicUrl,
        signingKey: await loadOrCreateSecret(config.dataDir, 'object-url-key'),
      });
}

/** The graph store the configuration names (Neo4j, or tables in PostgreSQL); not yet initialised. */
export function createGraphStore(config: Config, pool: pg.Pool): GraphStore {
  return config.graph.mode === 'neo4j' ? new Neo4jGraphStore(config.graph) : new PostgresGraphStore(pool);
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
