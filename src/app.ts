import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { TokenService } from './auth/tokens.js';
import type { BackupScheduler } from './backup/schedule.js';
import { composeAssistant } from './compose/assistant.js';
import { startDuties } from './compose/duties.js';
import { buildHttp } from './compose/http.js';
import { startRealtime } from './compose/realtime.js';
import { type NodeBase, openServices } from './compose/services.js';
import type { Config } from './config/config.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import type { AppServer } from './realtime/io-server.js';
import { closeSocket } from './realtime/local-sockets.js';
import type { Accounts } from './services/accounts.js';
import type { UserDirectory } from './services/user-directory.js';
import { openStores, type Stores } from './stores/stores.js';
import { Closers } from './util/closers.js';
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
  /** The pid of the reference assistant this node runs (ASSISTANT=on), while it runs. */
  readonly assistantPid: number | undefined;
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
  /**
   * What a child process of the node (the assistant) inherits: main passes its environment
   * without the server's own variables. Default: nothing (the child gets only its own).
   */
  childEnvironment?: Readonly<Record<string, string>>;
}

/**
 * Builds one node from a validated configuration, in steps that each register how to close
 * what they open: stores, services, HTTP, Socket.IO, background duties. A start that fails
 * closes what it had opened; `close()` drains, then closes it all in the reverse order.
 * Never listens (see `listen`).
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger({ level: config.logLevel, nodeId: config.nodeId });
  const metrics = new Metrics(config.nodeId);
  const state = { publicUrl: config.publicUrl, draining: false };
  const closers = new Closers(logger, config.shutdownTimeoutMs);

  const stores = await openStores(config, { logger, publicUrl: () => state.publicUrl });
  closers.add('stores', () => stores.close());
  try {
    const base: NodeBase = { config, logger, metrics, stores, closers };
    const services = await openServices(base);
    const web = await buildHttp(base, services, () => state.draining);
    const realtime = await startRealtime(base, services, web);
    const backups = startDuties(base, services, realtime);
    // Started once the node listens (it connects to it), stopped before the drain begins.
    const assistant = composeAssistant(base, services, options.childEnvironment ?? {});
    // Run first on close: disconnect handlers commit interrupted streams and update presence.
    closers.add('disconnect cleanups', () => Promise.allSettled([...realtime.cleanups]));
    const { http } = web;
    const { io, dispatcher } = realtime;

    let closing: Promise<void> | undefined;
    return {
      config,
      logger,
      metrics,
      stores,
      tokens: services.accounts.tokens,
      users: services.accounts.directory,
      accounts: services.accounts,
      backups,
      http,
      io,
      get assistantPid() {
        return assistant?.pid;
      },
      async listen(port = config.http.port, host = config.http.host) {
        await http.listen({ port, host });
        const address = http.server.address() as AddressInfo;
        if (config.publicUrl === `http://127.0.0.1:${config.http.port}` && address.port !== config.http.port) {
          state.publicUrl = `http://127.0.0.1:${address.port}`;
        }
        logger.info({ port: address.port, host, nodeId: config.nodeId, embedded: config.embeddedDefault }, 'listening');
        await assistant?.start(address);
        return address;
      },
      close() {
        closing ??= (async () => {
          state.draining = true;
          logger.info('draining');
          // The assistant first: its sessions go back to dispatch (another node's worker, or
          // waiting) before this node's sockets are told to move.
          await assistant?.stop();
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
          await closers.closeAll();
          logger.info('closed');
        })();
        return closing;
      },
    };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}
