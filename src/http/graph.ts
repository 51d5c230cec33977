import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  algorithmBody,
  createEntityBody,
  createRelationBody,
  findEntitiesQuery,
  graphIdParams,
  neighboursQuery,
  pathQuery,
  relatedQuery,
} from '../../protocol/http.js';
import { algorithmNames } from '../services/graph/algorithms.js';
import type { GraphService } from '../services/graph/graph-service.js';
import { bearer, noContent, responses } from './api-docs.js';
import { adminOnly, callerOf, signedIn } from './caller.js';

export interface GraphRouteOptions {
  graph: GraphService;
}

/**
 * The knowledge graph over HTTP (PROTOCOL section 7): finding entities by name, reading
 * related entities, neighbours and paths among the caller's entities; adding and removing entities and relations by
 * hand; graph algorithms (admin).
 */
export function registerGraphRoutes(http: FastifyInstance, options: GraphRouteOptions): void {
  const { graph } = options;
  const app = http.withTypeProvider<ZodTypeProvider>();
  const docs = (summary: string) => ({ tags: ['graph'], summary, security: bearer, response: responses() });

  app.get(
    '/v1/graph/entities',
    {
      config: signedIn,
      schema: { ...docs("The caller's entities whose name contains q"), querystring: findEntitiesQuery },
    },
    async (request) => {
      const { q, limit } = request.query;
      return { entities: await graph.find(callerOf(request), q, limit) };
    },
  );

  app.get(
    '/v1/graph/entities/:id',
    { config: signedIn, schema: { ...docs('One entity of the caller'), params: graphIdParams } },
    async (request) => ({
      entity: await graph.entity(callerOf(request), request.params.id),
    }),
  );

  app.get(
    '/v1/graph/entities/:id/related',
    {
      config: signedIn,
      schema: { ...docs('Entities related to one, up to a depth'), params: graphIdParams, querystring: relatedQuery },
    },
    async (request) => {
      const { depth, limit } = request.query;
      return { entities: await graph.related(callerOf(request), request.params.id, depth, limit) };
    },
  );

  app.get(
    '/v1/graph/entities/:id/neighbors',
    {
      config: signedIn,
      schema: {
        ...docs('Direct neighbours of an entity by relation type'),
        params: graphIdParams,
        querystring: neighboursQuery,
      },
    },
    async (request) => {
      const { types, limit } = request.query;
      return { neighbors: await graph.neighbours(callerOf(request), request.params.id, types, limit) };
    },
  );

  app.get(
    '/v1/graph/path',
    { config: signedIn, schema: { ...docs('A shortest path between two entities'), querystring: pathQuery } },
    async (request) => {
      const { from, to, maxHops } = request.query;
      return { path: await graph.path(callerOf(request), from, to, maxHops) };
    },
  );

  app.post(
    '/v1/graph/entities',
    { config: signedIn, schema: { ...docs('Add an entity by hand'), body: createEntityBody } },
    async (request, reply) =>
      reply.status(201).send({ entity: await graph.createEntity(callerOf(request), request.body) }),
  );

  app.delete(
    '/v1/graph/entities/:id',
    {
      config: signedIn,
      schema: {
        ...docs('Remove an entity and its relations'),
        params: graphIdParams,
        response: responses({ 204: noContent }),
      },
    },
    async (request, reply) => {
      await graph.deleteEntity(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/graph/relations',
    { config: signedIn, schema: { ...docs('Relate two entities of the caller'), body: createRelationBody } },
    async (request, reply) =>
      reply.status(201).send({ relation: await graph.createRelation(callerOf(request), request.body) }),
  );

  app.delete(
    '/v1/graph/relations/:id',
    {
      config: signedIn,
      schema: {
        ...docs('Remove a relation made by hand'),
        params: graphIdParams,
        response: responses({ 204: noContent }),
      },
    },
    async (request, reply) => {
      await graph.deleteRelation(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/v1/graph/algorithms/:name',
    {
      config: adminOnly,
      schema: {
        ...docs('Run a graph algorithm (admin)'),
        tags: ['graph', 'admin'],
        params: z.object({ name: z.enum(algorithmNames) }),
        // No body at all is the same as an empty one.
        body: algorithmBody.prefault({}),
      },
    },
    async (request) => graph.algorithm(callerOf(request), request.params.name, request.body),
  );
}
