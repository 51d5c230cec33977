import type { Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { failed, SpanKind, startSpan, within } from '../tracing.js';

/**
 * A span per HTTP request when tracing is on (SERVER kind, named by method and route once
 * the route is known), active while the request's hooks and handler run, so that their own
 * spans (a retrieval, a commit) are its children. The query string is never recorded.
 */
export function traceRequests(app: FastifyInstance): void {
  const spans = new WeakMap<FastifyRequest, Span>();
  app.addHook('onRequest', (request, _reply, done) => {
    const span = startSpan(
      request.method,
      { 'http.request.method': request.method, 'url.path': request.url.split('?', 1)[0] ?? '' },
      SpanKind.SERVER,
    );
    if (span === undefined) return done();
    spans.set(request, span);
    within(span, done);
  });
  app.addHook('onResponse', async (request, reply) => {
    const span = spans.get(request);
    if (span === undefined) return;
    const route = request.routeOptions.url ?? 'unmatched';
    span.updateName(`${request.method} ${route}`);
    span.setAttributes({ 'http.route': route, 'http.response.status_code': reply.statusCode });
    if (reply.statusCode >= 500) failed(span, new Error(`status ${reply.statusCode}`));
    span.end();
  });
}
