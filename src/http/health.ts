import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { DependencyName } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { Dependency } from '../stores/stores.js';
import { elapsedMs } from '../util/numbers.js';
import { withTimeout } from '../util/timeout.js';
import { bearer, responses } from './api-docs.js';
import { adminOnly } from './caller.js';

/** What the health routes need. */
export interface HealthOptions {
  nodeId: string;
  dependencies: readonly Dependency[];
  optional: ReadonlySet<DependencyName>;
  timeoutMs: number;
  metrics: Metrics;
  logger: Logger;
  /** True once SIGTERM started draining: the node is alive but takes no new work. */
  draining: () => boolean;
  /** What `GET /metrics` asks for as a bearer token (METRICS_TOKEN); undefined: nothing. */
  metricsToken: string | undefined;
}

/** Result of one dependency probe, as operators see it (`GET /v1/admin/readiness`). */
export interface DependencyStatus {
  status: 'up' | 'down';
  mode: 'external' | 'embedded';
  required: boolean;
  latencyMs: number;
  /** Why the probe failed: the driver's own text, which may name hosts and ports. */
  error?: string;
}

/** Every dependency probed, and what that makes of the node. */
interface Readiness {
  status: 'ready' | 'unavailable' | 'draining';
  dependencies: Record<string, DependencyStatus>;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * `GET /healthz` (process alive), `GET /readyz` (every dependency, for load balancers and
 * anyone else), `GET /v1/admin/readiness` (the same with each failure's text, for admins),
 * `GET /metrics` (behind METRICS_TOKEN when it is set). `/readyz` is public, so it says
 * which dependency is down and nothing about why: a driver's error names hosts, ports and
 * users. The why goes to the admin route and to the log, once per change of a dependency.
 */
export function registerHealthRoutes(app: FastifyInstance, options: HealthOptions): void {
  const lastStatus = new Map<string, DependencyStatus['status']>();

  const probe = async (): Promise<Readiness> => {
    const entries = await Promise.all(
      options.dependencies.map(async (dependency): Promise<[string, DependencyStatus]> => {
        const started = performance.now();
        const required = !options.optional.has(dependency.name);
        try {
          await withTimeout(dependency.ping(), options.timeoutMs, `no answer within ${options.timeoutMs} ms`);
          options.metrics.dependencyUp.set({ dependency: dependency.name }, 1);
          return [dependency.name, { status: 'up', mode: dependency.mode, required, latencyMs: elapsedMs(started) }];
        } catch (error) {
          options.metrics.dependencyUp.set({ dependency: dependency.name }, 0);
          const message = error instanceof Error ? error.message : 'unreachable';
          return [
            dependency.name,
            {
              status: 'down',
              mode: dependency.mode,
              required,
              latencyMs: elapsedMs(started),
              error: message.slice(0, 200),
            },
          ];
        }
      }),
    );
    for (const [name, status] of entries) {
      if (lastStatus.get(name) === status.status) continue;
      if (status.status === 'down')
        options.logger.warn({ dependency: name, required: status.required, error: status.error }, 'dependency down');
      else if (lastStatus.has(name)) options.logger.info({ dependency: name }, 'dependency up again');
      lastStatus.set(name, status.status);
    }
    const failed = entries.some(([, s]) => s.status === 'down' && s.required);
    const status = options.draining() ? 'draining' : failed ? 'unavailable' : 'ready';
    return { status, dependencies: Object.fromEntries(entries) };
  };

  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is alive' } }, async () => ({
    status: 'ok',
    nodeId: options.nodeId,
  }));

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary:
          'Every required dependency answers (503 while draining or when one is down); which one is down, never why',
      },
    },
    async (_request, reply) => {
      const readiness = await probe();
      const dependencies = Object.fromEntries(
        Object.entries(readiness.dependencies).map(([name, { error: _why, ...status }]) => [name, status]),
      );
      return reply.status(readiness.status === 'ready' ? 200 : 503).send({ status: readiness.status, dependencies });
    },
  );

  app.get(
    '/v1/admin/readiness',
    {
      config: adminOnly,
      schema: {
        tags: ['admin'],
        summary: "This node's readiness with why each dependency is down (admins only; always 200)",
        security: bearer,
        response: responses(),
      },
    },
    async () => ({ nodeId: options.nodeId, ...(await probe()) }),
  );

  const expected = options.metricsToken === undefined ? undefined : digest(options.metricsToken);
  const authorized = (request: FastifyRequest): boolean => {
    if (expected === undefined) return true;
    const header = request.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    // Compared as digests: equal lengths, in constant time, whatever was sent.
    return timingSafeEqual(digest(header.slice(7).trim()), expected);
  };
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format); a bearer token when METRICS_TOKEN is set',
      },
    },
    async (request: FastifyRequest, reply: FastifyReply) => {
      if (!authorized(request)) {
        void reply.header('www-authenticate', 'Bearer realm="metrics"');
        throw new AppError('UNAUTHORIZED', { message: 'metrics need the bearer token METRICS_TOKEN' });
      }
      const body = await options.metrics.registry.metrics();
      return reply.type(options.metrics.registry.contentType).send(body);
    },
  );
}
