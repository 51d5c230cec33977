import type { Server as HttpServer, IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { Server } from 'socket.io';
import type {
  ClientToServerEvents,
  InterServerEvents,
  ServerToClientEvents,
  SocketData,
} from '../../protocol/events.js';
import { PROTOCOL_VERSION } from '../../protocol/models.js';
import type { ClientEventName } from '../../protocol/schemas.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { AuthenticatedCaller } from '../services/authenticator.js';
import { coalesceWritesPerTurn } from '../util/cork.js';
import { type AppSocket, Dispatcher, type EventHandlers } from './dispatcher.js';
import { familyRoom, userRoom } from './rooms.js';

export type AppServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

/** Everything the Socket.IO server needs. */
export interface IoServerOptions {
  http: HttpServer;
  /** Checks the handshake's token and gives the user's current role (refuses removed or disabled users). */
  authenticate: (token: unknown) => Promise<AuthenticatedCaller>;
  logger: Logger;
  metrics: Metrics;
  /** Socket.IO adapter factory (the Redis adapter in a cluster); default in-memory. */
  adapter?: Parameters<AppServer['adapter']>[0];
  /** Runs first at every handshake (connection limits); throws AppError to refuse it. */
  admit?: (socket: AppSocket) => Promise<void>;
  /** The client's address of a handshake (TRUST_PROXY). */
  clientAddress: (request: IncomingMessage) => string;
  /** Whether a browser may open a connection from the handshake's Origin (CORS_ORIGINS). */
  originAllowed: (headers: IncomingHttpHeaders) => boolean;
  /** The `cors` option of Socket.IO for long-polling from the listed origins. */
  cors: { origin: boolean | string[]; credentials: boolean };
}

/** What `attachHandlers` needs. */
export interface HandlerOptions {
  /** This node's name, told to every socket in `sys:hello`. */
  nodeId: string;
  handlers: EventHandlers;
  logger: Logger;
  metrics: Metrics;
  /** Runs after a socket disconnected (presence, interrupted streams). */
  onDisconnect?: (socket: AppSocket) => Promise<void>;
  /** Runs before each event's payload is validated; throws to refuse (rate limits). */
  guard?: (event: ClientEventName, socket: AppSocket) => Promise<void>;
  /** Events of one socket handled at once. */
  maxInFlightPerSocket: number;
}

/** Largest Socket.IO packet accepted (PROTOCOL section 4). */
export const MAX_PACKET_BYTES = 1024 * 1024;

/**
 * The Socket.IO server on the shared HTTP server. Every handshake must carry a valid access
 * token (`auth.token`); otherwise the client gets `connect_error` with message
 * `unauthorized` and `data.code` `UNAUTHORIZED`, and none of its events is processed.
 */
export function createIoServer(options: IoServerOptions): AppServer {
  const { logger, metrics } = options;
  // What one turn of the event loop sends a WebSocket client (a handshake's answer and
  // sys:hello, an ack and the pushes of the same turn) leaves in one write.
  options.http.prependListener('upgrade', (_request: IncomingMessage, socket: Duplex) => coalesceWritesPerTurn(socket));
  const io: AppServer = new Server(options.http, {
    maxHttpBufferSize: MAX_PACKET_BYTES,
    pingInterval: 20_000,
    pingTimeout: 20_000,
    connectionStateRecovery: undefined,
    serveClient: false,
    cors: options.cors,
    // A browser on another origin is refused before any Socket.IO work (HTTP 403).
    allowRequest: (request, callback) => callback(null, options.originAllowed(request.headers)),
    ...(options.adapter === undefined ? {} : { adapter: options.adapter }),
  });
  io.use((socket, next) => {
    socket.data.ip = options.clientAddress(socket.request);
    const auth: unknown = socket.handshake.auth;
    const token = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown }).token : undefined;
    Promise.resolve(options.admit?.(socket))
      .then(() => options.authenticate(token))
      .then(
        (claims) => {
          socket.data.userId = claims.userId;
          socket.data.role = claims.role;
          socket.data.kind = claims.kind;
          socket.data.tokenExpiresAt = claims.expiresAt;
          // Every socket of a user, or of one login, on any node, can be reached (ended on a
          // role or status change, or at that login's logout).
          void socket.join(userRoom(claims.userId));
          if (claims.family !== undefined) {
            socket.data.family = claims.family;
            void socket.join(familyRoom(claims.family));
          }
          metrics.socketHandshakes.inc({ outcome: 'ok' });
          next();
        },
        (error: unknown) => {
          if (error instanceof AppError && error.code !== 'UNAUTHORIZED') {
            metrics.socketHandshakes.inc({ outcome: error.code });
            const refusal = new Error(error.code === 'RATE_LIMITED' ? 'rate_limited' : 'unavailable') as Error & {
              data: unknown;
            };
            refusal.data = {
              code: error.code,
              ...(error.retryAfterMs === undefined ? {} : { retryAfterMs: error.retryAfterMs }),
            };
            next(refusal);
            return;
          }
          metrics.socketHandshakes.inc({ outcome: 'unauthorized' });
          if (!(error instanceof AppError)) logger.error({ err: error }, 'token verification failed');
          const refusal = new Error('unauthorized') as Error & { data: { code: 'UNAUTHORIZED' } };
          refusal.data = { code: 'UNAUTHORIZED' };
          next(refusal);
        },
      );
  });

  return io;
}

/** Routes every event of every connecting socket through one dispatcher. */
export function attachHandlers(io: AppServer, options: HandlerOptions): Dispatcher {
  const { logger, metrics } = options;
  const dispatcher = new Dispatcher(options.handlers, logger, metrics, {
    ...(options.guard === undefined ? {} : { guard: options.guard }),
    maxInFlightPerSocket: options.maxInFlightPerSocket,
  });
  io.on('connection', (socket) => {
    metrics.socketConnections.inc();
    dispatcher.attach(socket);
    socket.emit('sys:hello', { protocolVersion: PROTOCOL_VERSION, nodeId: options.nodeId });
    socket.on('disconnect', () => {
      metrics.socketConnections.dec();
      options
        .onDisconnect?.(socket)
        .catch((error: unknown) => logger.warn({ err: error, socket: socket.id }, 'disconnect cleanup failed'));
    });
    socket.on('error', (error) => logger.warn({ err: error, socket: socket.id }, 'socket error'));
  });
  return dispatcher;
}
