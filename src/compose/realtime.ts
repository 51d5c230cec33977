import type { Server as HttpServer } from 'node:http';
import { AppError } from '../errors/app-error.js';
import { clientAddress } from '../http/client-address.js';
import { originAllowed } from '../http/origins.js';
import { AgentWorkers } from '../realtime/agent-workers.js';
import { AudioBargeIn } from '../realtime/audio-barge-in.js';
import { AudioStreams } from '../realtime/audio-streams.js';
import { ClusterViewer } from '../realtime/cluster-view.js';
import type { RealtimeContext } from '../realtime/context.js';
import type { AppSocket, Dispatcher } from '../realtime/dispatcher.js';
import { agentHandlers } from '../realtime/handlers/agent-handlers.js';
import { audioHandlers } from '../realtime/handlers/audio-handlers.js';
import { messageHandlers } from '../realtime/handlers/message-handlers.js';
import { retrieveHandler } from '../realtime/handlers/retrieve-handlers.js';
import { leaveSocket, sessionHandlers } from '../realtime/handlers/session-handlers.js';
import { pingHandler } from '../realtime/handlers/system-handlers.js';
import { turnHandlers } from '../realtime/handlers/turn-handlers.js';
import { type AppServer, attachHandlers, createIoServer } from '../realtime/io-server.js';
import { LiveAudio } from '../realtime/live-audio.js';
import { deliverLocally, endOwnedSockets } from '../realtime/local-sockets.js';
import { MessageRelay } from '../realtime/message-relay.js';
import { endSlowConsumer } from '../realtime/outbound.js';
import { StreamCloser } from '../realtime/stream-closer.js';
import { Conversation } from '../services/conversation.js';
import { packageVersion } from '../util/package-root.js';
import type { HttpPart } from './http.js';
import type { NodeBase, Services } from './services.js';

/** The Socket.IO side of a node. */
export interface RealtimePart {
  io: AppServer;
  dispatcher: Dispatcher;
  context: RealtimeContext;
  /** Ends a socket that cannot keep up (counted and logged). */
  slowConsumer: (socket: AppSocket) => void;
  /** Disconnect handlers still running (leaving sessions, committing streams). */
  cleanups: Set<Promise<void>>;
}

/**
 * Step 4 of a node: the Socket.IO server on the HTTP server (with the Redis adapter when
 * nodes share Redis), the ordered message relay, stream and audio state, and every event
 * handler behind the dispatcher.
 */
export async function startRealtime(base: NodeBase, services: Services, web: HttpPart): Promise<RealtimePart> {
  const { config, logger, metrics, stores, closers } = base;
  const { accounts, limits } = services;

  const io = createIoServer({
    http: web.http.server as HttpServer,
    authenticate: (token) => services.auth.caller(token),
    admit: (socket) => limits.checkConnection(socket.data.ip),
    clientAddress: (request) => clientAddress(request, web.trust),
    originAllowed: (headers) => originAllowed(headers, web.corsOrigins),
    cors: { origin: web.corsOrigins.has('*') ? true : [...web.corsOrigins], credentials: true },
    logger,
    metrics,
    ...(stores.ioAdapter === undefined ? {} : { adapter: stores.ioAdapter }),
  });
  closers.add('socket.io', () => new Promise<void>((resolve) => io.close(() => resolve())));
  // Pushes from services (document progress, deleted sessions), from every node, to this node's sockets.
  const stopPushes = await services.notifier.listen((audience, push) => deliverLocally(io, audience, push));
  closers.add('pushes', stopPushes);
  // Requests from any node to end sockets of a user, a login or an API key.
  const stopEndings = await accounts.disconnector.listen((owner, notice) => endOwnedSockets(io, owner, notice));
  closers.add('disconnector', stopEndings);

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
      onMessage: (message) => services.turns.relayed(message),
    },
  );
  closers.add('relay', () => relay.close());
  metrics.gauge(
    'voicehelper_relay_pending_messages',
    'Messages waiting on this node for an earlier seq before delivery',
    () => relay.pendingCount(),
  );
  const conversation = new Conversation<AppSocket>({
    messages: stores.messages,
    streams: stores.streams,
    objects: stores.objects,
    turns: services.turns,
    delivery: relay,
    metrics,
    logger,
  });
  const closer = new StreamCloser(stores.streams, conversation, stores.presence, stores.locks, logger, {
    idleMs: config.streams.idleMs,
    sweepMs: config.streams.sweepMs,
    resumeGraceMs: config.streams.resumeGraceMs,
    nodeId: config.nodeId,
  });
  // A stream buffer in this process dies with it: commit now what other nodes could not.
  closers.add('stream closer', () => closer.close({ commitLeaving: config.redis.mode === 'memory' }));
  const liveAudio = new LiveAudio(
    {
      pubsub: stores.pubsub,
      logger,
      nodeId: config.nodeId,
      aliveNodes: (nodeIds) => stores.presence.aliveNodes(nodeIds),
    },
    {
      bufferFrames: config.audio.liveBufferFrames,
      outboundLimitBytes: config.outbound.softLimitBytes,
      sweepMs: config.streams.sweepMs,
      streamTimeoutMs: config.audio.streamTimeoutMs,
    },
  );
  await liveAudio.start();
  closers.add('live audio', () => liveAudio.close());
  metrics.counter(
    'voicehelper_audio_frames_dropped_total',
    'Live audio frames dropped on this node for sockets that did not read them',
    () => liveAudio.droppedFrames,
  );
  const audio = new AudioStreams(config.audio, { claims: stores.cache, nodeId: config.nodeId, observer: liveAudio });
  closers.add('audio streams', () => audio.close());
  metrics.gauge(
    'voicehelper_audio_buffered_bytes',
    'Audio bytes held in memory by open audio streams on this node',
    () => audio.bufferedBytes,
  );
  const bargeIn = new AudioBargeIn({
    cache: stores.cache,
    pubsub: stores.pubsub,
    audio,
    conversation,
    messages: stores.messages,
    logger,
  });

  const agentWorkers = new AgentWorkers(services.agents, config.nodeId, logger);
  metrics.gauge('voicehelper_agent_workers', 'Agent workers registered on this node', () => agentWorkers.size);

  const context: RealtimeContext = {
    io,
    nodeId: config.nodeId,
    sessions: accounts.sessions,
    messages: stores.messages,
    conversation,
    relay,
    presence: stores.presence,
    streams: stores.streams,
    closer,
    objects: stores.objects,
    erasure: accounts.erasure,
    notifier: services.notifier,
    agents: services.agents,
    agentWorkers,
    audio,
    liveAudio,
    audioUrlTtlSeconds: config.audio.urlTtlSeconds,
    checkLimit: (event, userId) => limits.check(event, userId),
    turns: services.turns,
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
      // A worker's socket has its account's limits times the sessions it serves at once.
      await limits.check(event, socket.data.userId, agentWorkers.limitScaleOf(socket)).catch((error: unknown) => {
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
      ...agentHandlers(context),
      retrieve: retrieveHandler({
        sessions: accounts.sessions,
        embedder: stores.embedder,
        vectors: stores.vectors,
        graph: services.graph,
        joined: (socket, sessionId) => relay.isJoined(socket, sessionId),
        timeoutMs: config.retrieveTimeoutMs,
        metrics,
        logger,
      }),
    },
    onDisconnect: (socket) => {
      const cleanup = (async () => {
        // In-memory state first: a failure of the stores below must not leave it behind.
        context.audio.dropSocket(socket.id);
        liveAudio.dropSocket(socket);
        // Its sessions go to other workers before anything slower runs.
        await agentWorkers.socketGone(socket);
        for (const sessionId of relay.sessionsOf(socket)) await leaveSocket(context, socket, sessionId);
        await closer.socketGone(socket.id);
      })();
      cleanups.add(cleanup);
      return cleanup.finally(() => cleanups.delete(cleanup));
    },
  });
  await agentWorkers.start();
  closers.add('agent workers', () => agentWorkers.close());
  const viewer = new ClusterViewer(
    io,
    { agents: services.agents, workers: () => agentWorkers.size, draining: web.draining, logger },
    { nodeId: config.nodeId, version: await packageVersion(), shared: stores.ioAdapter !== undefined },
  );
  closers.add('cluster view', async () => viewer.close());
  web.cluster.view = () => viewer.view();
  await bargeIn.start();
  closers.add('audio barge-in', () => bargeIn.stop());
  return { io, dispatcher, context, slowConsumer, cleanups };
}
