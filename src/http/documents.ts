import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { documentEntitiesQuery, documentModel } from '../../protocol/http.js';
import { jsonObject, text } from '../../protocol/schemas.js';
import { AppError, hasReason } from '../errors/app-error.js';
import { validated } from '../errors/validation.js';
import type { DocumentService } from '../services/documents/document-service.js';
import type { Caller } from '../services/session-service.js';
import { bearer, noContent, responses } from './api-docs.js';
import { type BodyPace, watchBody } from './body-watchdog.js';
import { callerOf, signedIn } from './caller.js';
import { idParams } from './sessions.js';

/** What the document routes need. */
export interface DocumentRouteOptions {
  documents: DocumentService;
  maxBytes: number;
  /** Uploads received at once by this node; more are refused with RATE_LIMITED. */
  maxConcurrentUploads: number;
  /** Uploads received at once by this node for one user; more are refused with RATE_LIMITED. */
  maxConcurrentUploadsPerUser: number;
  /** How fast an upload body must arrive; a slower one is cut with 408. */
  pace: BodyPace;
  /** Counts the uploads being received (the `voicehelper_uploads_in_flight` gauge). */
  inFlight: { inc(): void; dec(): void };
}

const listQuery = z
  .object({ limit: z.coerce.number().int().min(1).max(100).optional(), cursor: text(200).optional() })
  .strict();

/** `POST|GET /v1/documents`, `GET|DELETE /v1/documents/:id`, `GET /v1/documents/:id/content`, `GET /v1/documents/:id/entities`. */
export async function registerDocumentRoutes(http: FastifyInstance, options: DocumentRouteOptions): Promise<void> {
  const app = http.withTypeProvider<ZodTypeProvider>();
  const docs = (summary: string) => ({ tags: ['documents'], summary, security: bearer, response: responses() });
  // One byte over the limit reaches the service, whose meter refuses the upload with 413
  // (the plugin itself would only truncate the stream).
  await app.register(multipart, {
    limits: { fileSize: options.maxBytes + 1, files: 1, fields: 10, fieldSize: 64 * 1024 },
    throwFileSizeLimit: true,
  });

  let uploading = 0;
  const uploadingByUser = new Map<string, number>();
  app.post(
    '/v1/documents',
    {
      config: signedIn,
      schema: {
        ...docs(
          `Upload a document (multipart/form-data: file, optional title and metadata as JSON; at most ${options.maxBytes} bytes); ingestion runs in the background`,
        ),
        consumes: ['multipart/form-data'],
        response: responses({ 202: z.object({ document: documentModel }) }),
      },
    },
    async (request, reply) => {
      const caller = callerOf(request);
      if (!request.isMultipart())
        throw new AppError('VALIDATION', { message: 'expected multipart/form-data with a file field' });
      // Each upload holds a connection, a spool file and a stream to object storage: the
      // node has a few slots, and one user may take only some of them.
      const mine = uploadingByUser.get(caller.userId) ?? 0;
      if (mine >= options.maxConcurrentUploadsPerUser) {
        throw new AppError('RATE_LIMITED', {
          message: `this account has ${mine} uploads in progress, the most at once; retry when one has finished`,
          retryAfterMs: 1_000,
          details: { limit: options.maxConcurrentUploadsPerUser },
        });
      }
      if (uploading >= options.maxConcurrentUploads) {
        throw new AppError('RATE_LIMITED', {
          message: 'this node receives too many uploads at once; retry shortly',
          retryAfterMs: 1_000,
        });
      }
      uploading++;
      uploadingByUser.set(caller.userId, mine + 1);
      options.inFlight.inc();
      // A body that trickles is cut, so that it gives its slot back (the receive left behind
      // ends when the connection closes after the 408).
      const watch = watchBody(request.raw, options.pace);
      try {
        return await Promise.race([receive(request, reply, caller), watch.tripped]);
      } catch (error) {
        if (hasReason(error, 'body_idle') || hasReason(error, 'body_too_slow'))
          void reply.header('connection', 'close');
        throw error;
      } finally {
        watch.stop();
        uploading--;
        const left = (uploadingByUser.get(caller.userId) ?? 1) - 1;
        if (left === 0) uploadingByUser.delete(caller.userId);
        else uploadingByUser.set(caller.userId, left);
        options.inFlight.dec();
      }
    },
  );

  const receive = async (request: FastifyRequest, reply: FastifyReply, caller: Caller) => {
    let title: string | undefined;
    let metadata: Record<string, unknown> | undefined;
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        const value = String(part.value);
        if (part.fieldname === 'title') title = validated(text(255).pipe(z.string().trim().min(1)), value);
        else if (part.fieldname === 'metadata') {
          let parsed: unknown;
          try {
            parsed = JSON.parse(value);
          } catch {
            throw new AppError('VALIDATION', { message: 'metadata must be JSON', details: { field: 'metadata' } });
          }
          metadata = validated(jsonObject, parsed) as Record<string, unknown>;
        }
        continue;
      }
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw new AppError('VALIDATION', {
          message: 'the file field must be named file',
          details: { field: part.fieldname },
        });
      }
      try {
        const document = await options.documents.upload(caller, {
          stream: part.file,
          filename: part.filename,
          mimetype: part.mimetype,
          ...(title === undefined ? {} : { title }),
          ...(metadata === undefined ? {} : { metadata }),
        });
        return reply.status(202).send({ document });
      } catch (error) {
        if ((error as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
          throw new AppError('PAYLOAD_TOO_LARGE', {
            message: `documents are at most ${options.maxBytes} bytes`,
            cause: error,
          });
        }
        throw error;
      }
    }
    throw new AppError('VALIDATION', { message: 'no file in the request', details: { field: 'file' } });
  };

  app.get(
    '/v1/documents',
    {
      config: signedIn,
      schema: {
        ...docs("The caller's documents, newest first"),
        querystring: listQuery,
        response: responses({
          200: z.object({ documents: z.array(documentModel), nextCursor: z.string().nullable() }),
        }),
      },
    },
    async (request) => {
      const query = request.query;
      return options.documents.list(callerOf(request), {
        limit: query.limit ?? 20,
        ...(query.cursor === undefined ? {} : { cursor: query.cursor }),
      });
    },
  );

  app.get(
    '/v1/documents/:id',
    {
      config: signedIn,
      schema: {
        ...docs('One document and its ingestion status'),
        params: idParams,
        response: responses({ 200: z.object({ document: documentModel }) }),
      },
    },
    async (request) => ({ document: await options.documents.get(callerOf(request), request.params.id) }),
  );

  app.get(
    '/v1/documents/:id/content',
    {
      config: signedIn,
      schema: { ...docs('A redirect (302) to a short-lived download URL of the file'), params: idParams },
    },
    async (request, reply) => {
      const { url } = await options.documents.contentUrl(callerOf(request), request.params.id);
      return reply.redirect(url, 302);
    },
  );

  app.get(
    '/v1/documents/:id/entities',
    {
      config: signedIn,
      schema: {
        ...docs('The knowledge-graph entities found in a document'),
        params: idParams,
        querystring: documentEntitiesQuery,
      },
    },
    async (request) => ({
      entities: await options.documents.entities(callerOf(request), request.params.id, request.query.limit),
    }),
  );

  app.delete(
    '/v1/documents/:id',
    {
      config: signedIn,
      schema: {
        ...docs('Delete a document from every store'),
        params: idParams,
        response: responses({ 204: noContent }),
      },
    },
    async (request, reply) => {
      await options.documents.delete(callerOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
}
