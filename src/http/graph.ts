import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { algorithmBody, createEntityBody, createRelationBody, findEntitiesQuery, graphIdParams, neighboursQuery, pathQuery, relatedQuery } from '../../protocol/http.js';
import type { Authenticator } from '../services/authenticator.js';
import { algorithmNames } from '../services/graph/algorithms.js';
import type { GraphService } from '../services/graph/graph-service.js';
import { requireAdmin } from './admin.js';
import { parseBody } from './auth.js';
import { authenticate } from './sessions.js';

export interface GraphRouteOptions {
  graph: GraphService;
  auth: Authenticator;
}

/**
 * The knowledge graph over HTTP (PROTOCOL section 7): finding entities by name, reading
 * related entities, neighbours and paths among the caller's entities; adding and removing entities and relations by
 * hand; graph algorithms (admin).
 */
export function registerGraphRoutes(app: FastifyInstance, options: GraphRouteOptions): void {
  const { graph, auth } = options;

  app.get('/v1/graph/entities', async (request) => {
    const caller = await authenticate(request, auth);
    const { q, limit } = parseBody(findEntitiesQuery, request.query);
    return { entities: await graph.find(caller, q, limit) };
  });

  app.get('/v1/graph/entities/:id', async (request) => {
    const caller = await authenticate(request, auth);
    const { id } = parseBody(graphIdParams, request.params);
    return { entity: await graph.entity(caller, id) };
  });

  app.get('/v1/graph/entities/:id/related', async (request) => {
    const caller = await authenticate(request, auth);
    const { id } = parseBody(graphIdParams, request.params);
    const { depth, limit } = parseBody(relatedQuery, request.query);
    return { entities: await graph.related(caller, id, depth, limit) };
  });

  app.get('/v1/graph/entities/:id/neighbors', async (request) => {
    const caller = await authenticate(request, auth);
    const { id } = parseBody(graphIdParams, request.params);
    const { types, limit } = parseBody(neighboursQuery, request.query);
    return { neighbors: await graph.neighbours(caller, id, types, limit) };
  });

  app.get('/v1/graph/path', async (request) => {
    const caller = await authenticate(request, auth);
    const { from, to, maxHops } = parseBody(pathQuery, request.query);
    return { path: await graph.path(caller, from, to, maxHops) };
  });

  app.post('/v1/graph/entities', async (request, reply) => {
    const caller = await authenticate(request, auth);
    const body = parseBody(createEntityBody, request.body);
    return reply.status(201).send({ entity: await graph.createEntity(caller, body) });
  });

  app.delete('/v1/graph/entities/:id', async (request, reply) => {
    const caller = await authenticate(request, auth);
    const { id } = parseBody(graphIdParams, request.params);
    await graph.deleteEntity(caller, id);
    return reply.status(204).send();
  });

  app.post('/v1/graph/relations', async (request, reply) => {
    const caller = await authenticate(request, auth);
    const body = parseBody(createRelationBody, request.body);
    return reply.status(201).send({ relation: await graph.createRelation(caller, body) });
  });

  app.delete('/v1/graph/relations/:id', async (request, reply) => {
    const caller = await authenticate(request, auth);
    const { id } = parseBody(graphIdParams, request.params);
    await graph.deleteRelation(caller, id);
    return reply.status(204).send();
  });

  app.post('/v1/graph/algorithms/:name', async (request) => {
    const caller = await requireAdmin(request, auth);
    const { name } = parseBody(z.object({ name: z.enum(algorithmNames) }), request.params);
    const body = parseBody(algorithmBody, request.body ?? {});
    return graph.algorithm(caller, name, body);
  });
}
