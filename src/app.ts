import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import cors from '@fastify/cors';
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { Passwords } from './auth/passwords.js';
import type { TokenService } from './auth/tokens.js';
import { BackupScheduler } from './backup/schedule.js';
import type { Config } from './config/config.js';
import { AppError } from './errors/app-error.js';
import { registerAdminRoutes } from './http/admin.js';
import { registerApiDocs } from './http/api-docs.js';
import { registerAuthRoutes } from './http/auth.js';
import { registerCallerHook } from './http/caller.js';
import { clientAddress, trustProxy } from './http/client-address.js';
import { registerDocumentRoutes } from './http/documents.js';
import { registerErrorHandling } from './http/errors.js';
import { registerGraphRoutes } from './http/graph.js';
import { registerHealthRoutes } from './http/health.js';
import { registerObjectRoutes } from './http/objects.js';
import { originAllowed } from './http/origins.js';
import { registerSessionRoutes } from './http/sessions.js';
import { registerWebApp } from './http/web-app.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { AudioBargeIn } from './realtime/audio-barge-in.js';
import { AudioStreams } from './realtime/audio-streams.js';
import { startClusterDuties } from './realtime/cluster-duties.js';
import type { RealtimeContext } from './realtime/context.js';
import { closeSocket } from './realtime/disconnector.js';
import type { AppSocket } from './realtime/dispatcher.js';
import { audioHandlers } from './realtime/handlers/audio-handlers.js';
import { messageHandlers } from './realtime/handlers/message-handlers.js';
import { retrieveHandler } from './realtime/handlers/retrieve-handler.js';
import { leaveSocket, sessionHandlers } from './realtime/handlers/session-handlers.js';
import { pingHandler } from './realtime/handlers/system.js';
import { turnHandlers } from './realtime/handlers/turn-handlers.js';
import { type AppServer, attachHandlers, createIoServer } from './realtime/io-server.js';
import { MessageRelay } from './realtime/message-relay.js';
import { endSlowConsumer, watchSlowConsumers } from './realtime/outbound.js';
import { startPrivilegeSweep } from './realtime/privilege-sweep.js';
import { userRoom } from './realtime/rooms.js';
import { StreamCloser } from './realtime/stream-closer.js';
import { TurnClock } from './realtime/turn-clock.js';
import { type Accounts, openAccounts } from './services/accounts.js';
import { Authenticator } from './services/authenticator.js';
import { DocumentService } from './services/documents/document-service.js';
import { WorkerDocumentParser } from './services/documents/parsing.js';
import { GraphService } from './services/graph/graph-service.js';
import { RateLimits } from './services/rate-limits.js';
import { StorageReconciler } from './services/storage-reconciler.js';
import type { UserDirectory } from './services/user-directory.js';
import { LocalEmbedder } from './stores/embeddings/local-embedder.js';
import { FailoverRateLimiter } from './stores/limits/failover-rate-limiter.js';
import { MemoryRateLimiter } from './stores/limits/memory-rate-limiter.js';
import { RedisRateLimiter } from './stores/limits/redis-rate-limiter.js';
import { FsObjectStore } from './stores/object/fs-object-store.js';
import { openIngestionQueue } from './stores/queue/open-queue.js';
import { connectRedis, duplicateRedis, handledCommands, whenReady } from './stores/redis/connection.js';
import { openStores, type Stores } from './stores/stores.js';
import { packageVersion } from './util/package-root.js';
import { waitUntil, withTimeout } from './util/timeout.js';

/**
 * How long a draining node waits, after telling a socket to move, for it to be quiet (no
 * event of it running or started) before closing its transport: the notice and an event
 * the client sent before reading it cross on the wire, and that event is answered here.
 */
const DRAIN_QUIET_MS = 200;

/** A built node: HTTP API and Socket.IO on one server, not yet listening. */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly stores: Stores;
  readonly tokens: TokenService;
  /** Cached user lookups; call `invalidate` after changing a user's roles or status. */
  readonly users: UserDirectory;
  /** Tokens, API keys, sessions and erasure. */
  readonly accounts: Accounts;
  /** The daily backup of BACKUP_SCHEDULE, when set. */
  readonly backups: BackupScheduler | undefined;
  readonly http: FastifyInstance;
  readonly io: AppServer;
  /** Listens on `port` (default: the configured one); returns the bound address. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /**
   * Drains and stops: refuses new work, waits for running handlers (bounded by
   * SHUTDOWN_TIMEOUT_MS), disconnects sockets, closes the HTTP server and every store.
   */
  close(): Promise<void>;
}

/** Extra wiring for tests and embedding. */
export interface BuildOptions {
  /** Use this logger instead of creating one from the configuration. */
  logger?: Logger;
}

/** Builds one node from a validated configuration. Never listens (see `listen`). */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, nodeId: config.nodeId });
  const metrics = new Metrics(config.nodeId);
  let publicUrl = config.publicUrl;
  let draining = false;

  const stores = await openStores(config, { logger, publicUrl: () => publicUrl });
  try {
    const accounts = await openAccounts(config, stores, logger);
    const { tokens, disconnector, families, refreshTokens, apiKeys, sessions, directory, erasure } = accounts;

    const trust = trustProxy(config.http.trustProxy);
    const corsOrigins = new Set(config.http.corsOrigins);
    const http = Fastify({
      loggerInstance: logger as FastifyBaseLogger,
      // request.ip is the client's address behind the proxies TRUST_PROXY names, and theirs only.
      trustProxy: trust,
      requestTimeout: config.http.requestTimeoutMs,
      keepAliveTimeout: config.http.keepAliveTimeoutMs,
      bodyLimit: 1024 * 1024,
      // Per-request lines would drown the logs at load; /metrics counts requests instead.
      logController: new LogController({ disableRequestLogging: true }),
      return503OnClosing: true,
      forceCloseConnections: false,
    });
    http.addHook('onResponse', async (request, reply) => {
      metrics.httpRequests.inc({
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      });
    });
    http.server.headersTimeout = config.http.headersTimeoutMs;
    registerErrorHandling(http);
    // Browsers on other origins are refused unless CORS_ORIGINS lists them; listed ones get
    // CORS headers (and preflights answered) by @fastify/cors.
    http.addHook('onRequest', async (request) => {
      if (!originAllowed(request.headers, corsOrigins))
        throw new AppError('FORBIDDEN', { message: 'this origin may not call the API' });
    });
    await http.register(cors, { origin: corsOrigins.has('*') ? true : [...corsOrigins], credentials: true });
    await registerApiDocs(http, { version: await packageVersion() });
    const auth = new Authenticator(tokens, directory, families, (userId) => limits.check('http', userId));
    registerCallerHook(http, auth);
    registerHealthRoutes(http, {
      nodeId: config.nodeId,
      dependencies: stores.dependencies,
      optional: config.readinessOptional,
      timeoutMs: config.dependencyTimeoutMs,
      metrics,
      draining: () => draining,
    });
    if (stores.objects instanceof FsObjectStore) registerObjectRoutes(http, stores.objects);
    await registerWebApp(http, { objects: config.objects });
    // Set once the Socket.IO server exists; HTTP routes registered earlier push through it.
    const realtime: { io?: AppServer } = {};
    const turns = new TurnClock(stores.turns, metrics, logger);
    registerSessionRoutes(http, { sessions, messages: stores.messages, erasure, turns, io: () => realtime.io });
    const localLimiter = new MemoryRateLimiter();
    const limiterRedis =
      config.redis.mode === 'external'
        ? connectRedis(config.redis, logger, 'limiter', { commandTimeoutMs: config.dependencyTimeoutMs })
        : undefined;
    if (limiterRedis !== undefined) await whenReady(limiterRedis);
    const limits = new RateLimits({
      config: config.rateLimits,
      limiter:
        limiterRedis === undefined
          ? localLimiter
          : new FailoverRateLimiter(
              new RedisRateLimiter(limiterRedis, config.nodeId),
              localLimiter,
              config.rateLimits.failMode,
              logger,
              () => metrics.rateLimiterFailures.inc(),
            ),
      configs: stores.db.configs,
      pubsub: stores.pubsub,
      redis: stores.redis?.client,
      metrics,
      logger,
    });
    await limits.start();
    const queue = openIngestionQueue(config, logger);
    const parser = new WorkerDocumentParser(
      { extractor: config.knowledge.extractor, maxEntitiesPerDocument: config.knowledge.maxEntitiesPerDocument },
      config.parsing,
    );
    const documents = new DocumentService({
      pool: stores.pool,
      documents: stores.db.documents,
      objects: stores.objects,
      vectors: stores.vectors,
      // Ingestion embeds whole documents: the built-in embedder does that off the event loop.
      embedder:
        stores.embedder instanceof LocalEmbedder ? parser.localEmbedder(stores.embedder.dimension) : stores.embedder,
      graph: stores.graph,
      parser,
      locks: stores.locks,
      queue,
      audit: stores.db.audit,
      logger,
      maxBytes: config.documents.maxBytes,
      tmpDir: path.join(config.dataDir, 'tmp'),
      enqueueTimeoutMs: config.dependencyTimeoutMs * 2,
      quotas: config.quotas,
      // To every socket of the owner, on any node (the user's room, through the adapter).
      progress: (ownerId, event) => realtime.io?.to(userRoom(ownerId)).emit('document:status', event),
    });
    const reconciler = new StorageReconciler(
      {
        documents: stores.db.documents,
        purge: (id) => documents.purge(id),
        queue,
        objects: stores.objects,
        messages: stores.messages,
        locks: stores.locks,
        sweepRefreshTokens: () => refreshTokens.sweepExpired(),
        logger,
      },
      config.reconcile,
    );
    await registerDocumentRoutes(http, {
      documents,
      maxBytes: config.documents.maxBytes,
      maxConcurrentUploads: config.documents.maxConcurrentUploads,
    });
    const graph = new GraphService({ graph: stores.graph, audit: stores.db.audit, logger, gds: config.knowledge.gds });
    registerGraphRoutes(http, { graph });
    registerAuthRoutes(http, {
      users: stores.db.users,
      audit: stores.db.audit,
      tokens,
      refreshTokens,
      limits,
      passwords: new Passwords(config.passwordHashing),
      apiKeys,
      directory,
      erasure,
    });
    registerAdminRoutes(http, {
      configs: stores.db.configs,
      users: stores.db.users,
      audit: stores.db.audit,
      limits,
      apiKeys,
      accounts,
    });
    await http.ready();

    // On a Redis Cluster, room broadcasts go through the adapter's sharded mode (SPUBLISH to
    // the master of each room's channel), not to every node of the cluster.
    const shardedAdapter = config.redis.mode === 'external' && config.redis.clusterNodes.length > 0;
    const adapterClients =
      stores.redis === undefined
        ? undefined
        : {
            // The adapter subscribes as soon as it exists and has no way to retry: these two
            // connections queue commands while they connect.
            pub: handledCommands(duplicateRedis(stores.redis.client, logger, 'adapter-pub', { offlineQueue: true })),
            sub: handledCommands(
              duplicateRedis(stores.redis.client, logger, 'adapter-sub', {
                offlineQueue: true,
                shardedSubscribers: shardedAdapter,
              }),
            ),
          };
    // Subscribed on a ready connection: a SUBSCRIBE that never got its reply would leave
    // this node deaf to other nodes' broadcasts (ioredis resubscribes only what was confirmed).
    if (adapterClients !== undefined) await Promise.all([whenReady(adapterClients.pub), whenReady(adapterClients.sub)]);
    const io = createIoServer({
      http: http.server as HttpServer,
      authenticate: (token) => auth.caller(token),
      admit: (socket) => limits.checkConnection(socket.data.ip),
      clientAddress: (request) => clientAddress(request, trust),
      originAllowed: (headers) => originAllowed(headers, corsOrigins),
      cors: { origin: corsOrigins.has('*') ? true : [...corsOrigins], credentials: true },
      logger,
      metrics,
      ...(adapterClients === undefined
        ? {}
        : {
            adapter: shardedAdapter
              ? createShardedAdapter(adapterClients.pub, adapterClients.sub, { channelPrefix: 'vh:io' })
              : createAdapter(adapterClients.pub, adapterClients.sub, { key: 'vh:io' }),
          }),
    });
    realtime.io = io;
    await disconnector.attach(io);
    const stopPrivilegeSweep = startPrivilegeSweep({
      io,
      access: (ids) => stores.db.users.access(ids),
      directory,
      everyMs: config.privilegeSweepMs,
      logger,
    });
    const slowConsumer = (socket: AppSocket) => {
      metrics.slowConsumers.inc();
      logger.info({ socket: socket.id, userId: socket.data.userId }, 'ended a slow consumer');
      endSlowConsumer(socket);
    };
    const relay = new MessageRelay(
      io,
      stores.pubsub,
      stores.messages,
      (ids) => stores.db.sessions.lastSeqs(ids),
      logger,
      {
        outboundSoftLimitBytes: config.outbound.softLimitBytes,
        drainTimeoutMs: config.outbound.drainTimeoutMs,
        onSlowConsumer: slowConsumer,
        onMessage: (message) => turns.relayed(message),
      },
    );
    const stopSlowConsumerWatch = watchSlowConsumers(io, {
      hardLimitBytes: config.outbound.hardLimitBytes,
      everyMs: 1_000,
      onSlow: slowConsumer,
    });
    metrics.relayPendingCount = () => relay.pendingCount();
    const closer = new StreamCloser(stores.streams, stores.messages, relay, stores.presence, stores.locks, logger, {
      idleMs: config.streams.idleMs,
      sweepMs: config.streams.sweepMs,
      resumeGraceMs: config.streams.resumeGraceMs,
      nodeId: config.nodeId,
    });
    const audio = new AudioStreams(config.audio);
    const bargeIn = new AudioBargeIn(stores.cache, stores.pubsub, logger);
    metrics.audioBufferedCount = () => audio.bufferedBytes;
    const context: RealtimeContext = {
      io,
      nodeId: config.nodeId,
      sessions,
      messages: stores.messages,
      relay,
      presence: stores.presence,
      streams: stores.streams,
      closer,
      objects: stores.objects,
      erasure,
      audio,
      audioUrlTtlSeconds: config.audio.urlTtlSeconds,
      checkLimit: (event, userId) => limits.check(event, userId),
      turns,
      bargeIn,
      metrics,
      logger,
    };
    const cleanups = new Set<Promise<void>>();
    const dispatcher = attachHandlers(io, {
      nodeId: config.nodeId,
      logger,
      metrics,
      maxInFlightPerSocket: config.rateLimits.socketInFlight,
      guard: async (event, socket) => {
        await limits.check(event, socket.data.userId).catch((error: unknown) => {
          if (error instanceof AppError && error.code === 'RATE_LIMITED')
            metrics.refusedEvents.inc({ event, reason: 'rate_limit' });
          throw error;
        });
      },
      handlers: {
        'sys:ping': pingHandler(config.nodeId),
        ...sessionHandlers(context),
        ...messageHandlers(context),
        ...audioHandlers(context),
        ...turnHandlers(context),
        retrieve: retrieveHandler({
          sessions,
          embedder: stores.embedder,
          vectors: stores.vectors,
          graph,
          joined: (socket, sessionId) => relay.isJoined(socket, sessionId),
          timeoutMs: config.retrieveTimeoutMs,
          metrics,
          logger,
        }),
      },
      onDisconnect: (socket) => {
        const cleanup = (async () => {
          for (const sessionId of relay.sessionsOf(socket)) await leaveSocket(context, socket, sessionId);
          await closer.socketGone(socket.id);
          context.audio.dropSocket(socket.id);
        })();
        cleanups.add(cleanup);
        return cleanup.finally(() => cleanups.delete(cleanup));
      },
    });
    await bargeIn.start(context);
    const stopCluster = startClusterDuties(context, config.streams.sweepMs);
    documents.start();
    reconciler.start();
    const backups = config.backup.schedule === undefined ? undefined : new BackupScheduler(stores, config, logger);
    backups?.start();

    let closing: Promise<void> | undefined;
    const app: App = {
      config,
      logger,
      metrics,
      stores,
      tokens,
      users: directory,
      accounts,
      backups,
      http,
      io,
      async listen(port = config.http.port, host = config.http.host) {
        await http.listen({ port, host });
        const address = http.server.address() as AddressInfo;
        if (config.publicUrl === `http://127.0.0.1:${config.http.port}` && address.port !== config.http.port) {
          publicUrl = `http://127.0.0.1:${address.port}`;
        }
        logger.info({ port: address.port, host, nodeId: config.nodeId, embedded: config.embeddedDefault }, 'listening');
        return address;
      },
      close() {
        closing ??= (async () => {
          draining = true;
          logger.info('draining');
          // New handshakes are refused from here on. Each client is told at once, and its
          // transport closed once it has gone quiet: nothing of it running, nothing started
          // for DRAIN_QUIET_MS (a client that heard the notice stops sending, and what it
          // sent before is answered here), or at the deadline for one that keeps sending
          // (what it then never hears back about it resends after reconnecting). It
          // reconnects by itself, to another node behind the load balancer. (This node's own
          // sockets only: through the Redis adapter a plain disconnectSockets would reach
          // every node's.)
          io.use((_socket, next) => next(new Error('server is shutting down')));
          dispatcher.drain();
          const notice = { reason: 'draining', reconnect: true } as const;
          const deadline = performance.now() + config.shutdownTimeoutMs / 2;
          await Promise.all(
            [...io.of('/').sockets.values()].map(async (socket) => {
              socket.emit('sys:disconnect', notice);
              await dispatcher.quiet(socket, DRAIN_QUIET_MS, performance.now(), deadline);
              closeSocket(socket, true);
            }),
          );
          await waitUntil(() => io.of('/').sockets.size === 0, 2_000);
          io.local.disconnectSockets(true);
          // Handlers of events whose sockets were ended at the deadline finish.
          await withTimeout(dispatcher.idle(), config.shutdownTimeoutMs / 2, 'drain timed out').catch(
            (error: unknown) => logger.warn({ err: error }, 'closing with handlers still running'),
          );
          // Each step is bounded and may fail on its own (a dependency that is down must
          // not keep the node from stopping); the order is the reverse of opening.
          const step = async (name: string, work: () => unknown): Promise<void> => {
            logger.debug({ step: name }, 'closing');
            await withTimeout(
              Promise.resolve().then(work),
              config.shutdownTimeoutMs,
              `closing ${name} timed out`,
            ).catch((error: unknown) => logger.warn({ err: error, step: name }, 'a closing step failed'));
          };
          // Disconnect handlers commit interrupted streams and update presence.
          await step('disconnect cleanups', () => Promise.allSettled([...cleanups]));
          await step('cluster duties', () => stopCluster());
          stopPrivilegeSweep();
          stopSlowConsumerWatch();
          reconciler.stop();
          await step('scheduled backups', () => backups?.stop());
          await step('accounts', () => accounts.stop());
          await step('disconnector', () => disconnector.detach());
          await step('rate limits', () => limits.stop());
          await step('ingestion queue', () => queue.close());
          await step('document parser', () => parser.close());
          limiterRedis?.disconnect();
          // A stream buffer in this process dies with it: commit now what other nodes could not.
          await step('stream closer', () => closer.close({ commitLeaving: config.redis.mode === 'memory' }));
          await step('audio barge-in', () => bargeIn.stop());
          context.audio.close();
          await step('relay', () => relay.close());
          await step('socket.io', () => new Promise<void>((resolve) => io.close(() => resolve())));
          adapterClients?.pub.disconnect();
          adapterClients?.sub.disconnect();
          await step('http', () => http.close());
          await step('stores', () => stores.close());
          logger.info('closed');
        })();
        return closing;
      },
    };
    return app;
  } catch (error) {
    await stores.close();
    throw error;
  }
}
