import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { type ClusterView, clusterViewModel } from '../../protocol/http.js';
import { bearer, responses } from './api-docs.js';
import { adminOnly } from './caller.js';

/** `GET /v1/admin/cluster` (admins): every node, and per live session its members by node and its assistant. */
export function registerClusterRoute(http: FastifyInstance, options: { view: () => Promise<ClusterView> }): void {
  http.withTypeProvider<ZodTypeProvider>().get(
    '/v1/admin/cluster',
    {
      config: adminOnly,
      schema: {
        tags: ['admin'],
        summary: 'The cluster now: nodes, live sessions by node, and which worker has each',
        security: bearer,
        response: responses({ 200: clusterViewModel }),
      },
    },
    () => options.view(),
  );
}
