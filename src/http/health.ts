import type { FastifyInstance } from 'fastify';
import type { DependencyName } from '../config/schema.js';
import type { Metrics } from '../metrics.js';
import type { Dependency } from '../stores/stores.js';
import { elapsedMs } from '../util/numbers.js';
import { withTimeout } from '../util/timeout.js';

/** What the health routes need. */
export interface HealthOptions {
  nodeId: string;
  dependencies: readonly Dependency[];
  optional: ReadonlySet<DependencyName>;
  timeoutMs: number;
  metrics: Metrics;
  /** True once SIGTERM started draining: the node is alive but takes no new work. */
  draining: () => boolean;
}

/** Result of one dependency probe in `/readyz`. */
export interface DependencyStatus {
  status: 'up' | 'down';
  mode: 'external' | 'embedded';
  required: boolean;
  latencyMs: number;
  error?: string;
}

/** `GET /healthz` (process alive), `GET /readyz` (every dependency), `GET /metrics`. */
export function registerHealthRoutes(app: FastifyInstance, options: HealthOptions): void {
  app.get('/healthz', { schema: { tags: ['operations'], summary: 'The process is alive' } }, async () => ({
    status: 'ok',
    nodeId: options.nodeId,
  }));

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        summary: 'Every required dependency answers (503 while draining or when one is down)',
      },
    },
    async (_request, reply) => {
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
      const dependencies = Object.fromEntries(entries);
      const failed = entries.some(([, s]) => s.status === 'down' && s.required);
      const status = options.draining() ? 'draining' : failed ? 'unavailable' : 'ready';
      return reply.status(status === 'ready' ? 200 : 503).send({ status, nodeId: options.nodeId, dependencies });
    },
  );

  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)' } },
    async (_request, reply) => {
      const body = await options.metrics.registry.metrics();
      return reply.type(options.metrics.registry.contentType).send(body);
    },
  );
}
