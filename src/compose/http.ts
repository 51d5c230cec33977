import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { ClusterView } from '../../protocol/http.js';
import { Passwords } from '../auth/passwords.js';
import { AppError } from '../errors/app-error.js';
import { registerAdminRoutes } from '../http/admin.js';
import { registerApiDocs } from '../http/api-docs.js';
import { registerAuthRoutes } from '../http/auth.js';
import { registerCallerHook } from '../http/caller.js';
import { trustProxy } from '../http/client-address.js';
import { registerClusterRoute } from '../http/cluster.js';
import { registerDocumentRoutes } from '../http/documents.js';
import { registerErrorHandling } from '../http/errors.js';
import { registerGraphRoutes } from '../http/graph.js';
import { registerHealthRoutes } from '../http/health.js';
import { registerObjectRoutes } from '../http/objects.js';
import { originAllowed } from '../http/origins.js';
import { traceRequests } from '../http/request-spans.js';
import { registerSessionRoutes } from '../http/sessions.js';
import { registerWebApp } from '../http/web-app.js';
import { tracingOn } from '../tracing.js';
import { packageVersion } from '../util/package-root.js';
import type { NodeBase, Services } from './services.js';

/** The HTTP server with every route, and what the Socket.IO step shares with it. */
export interface HttpPart {
  http: FastifyInstance;
  /** Who may set X-Forwarded-For (TRUST_PROXY). */
  trust: ReturnType<typeof trustProxy>;
  corsOrigins: ReadonlySet<string>;
  /** Whether the node is draining (shutting down). */
  draining: () => boolean;
  /** What `GET /v1/admin/cluster` answers, set by the Socket.IO step (routes must all exist before it). */
  cluster: { view?: () => Promise<ClusterView> };
}

/** Step 3 of a node: Fastify with its hooks, the API documents, every route, and the browser app. */
export async function buildHttp(base: NodeBase, services: Services, draining: () => boolean): Promise<HttpPart> {
  const { config, logger, metrics, stores, closers } = base;
  const { accounts } = services;
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
  closers.add('http', () => http.close());
  if (tracingOn()) traceRequests(http);
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
  registerCallerHook(http, services.auth);

  registerHealthRoutes(http, {
    nodeId: config.nodeId,
    dependencies: stores.dependencies,
    optional: config.readinessOptional,
    timeoutMs: config.dependencyTimeoutMs,
    metrics,
    logger,
    draining,
    metricsToken: config.metricsToken,
  });
  if (stores.objects.signedDownloads !== undefined) registerObjectRoutes(http, stores.objects.signedDownloads);
  await registerWebApp(http, { objects: config.objects });
  registerSessionRoutes(http, {
    sessions: accounts.sessions,
    messages: stores.messages,
    erasure: accounts.erasure,
    turns: services.turns,
    notifier: services.notifier,
    agents: services.agents,
  });
  await registerDocumentRoutes(http, {
    documents: services.documents,
    maxBytes: config.documents.maxBytes,
    maxConcurrentUploads: config.documents.maxConcurrentUploads,
    maxConcurrentUploadsPerUser: config.documents.maxConcurrentUploadsPerUser,
    pace: { idleTimeoutMs: config.documents.bodyIdleTimeoutMs, minBytesPerSecond: config.documents.minBytesPerSecond },
    inFlight: metrics.uploadsInFlight,
  });
  registerGraphRoutes(http, { graph: services.graph });
  registerAuthRoutes(http, {
    users: stores.db.users,
    audit: stores.db.audit,
    tokens: accounts.tokens,
    refreshTokens: accounts.refreshTokens,
    limits: services.limits,
    passwords: new Passwords(config.passwordHashing),
    apiKeys: accounts.apiKeys,
    directory: accounts.directory,
    erasure: accounts.erasure,
  });
  registerAdminRoutes(http, {
    configs: stores.db.configs,
    users: stores.db.users,
    audit: stores.db.audit,
    limits: services.limits,
    apiKeys: accounts.apiKeys,
    accounts,
  });
  const cluster: HttpPart['cluster'] = {};
  registerClusterRoute(http, {
    view: () => {
      if (cluster.view === undefined) throw new AppError('UNAVAILABLE', { message: 'the node is still starting' });
      return cluster.view();
    },
  });
  await http.ready();
  return { http, trust, corsOrigins, draining, cluster };
}
