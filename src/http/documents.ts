import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../services/session-service.js';
import { z } from 'zod';
import { documentEntitiesQuery } from '../../protocol/http.js';
import { jsonObject, text, uuid } from '../../protocol/schemas.js';
import type { Authenticator } from '../services/authenticator.js';
import { AppError } from '../errors/app-error.js';
import type { DocumentService } from '../services/documents/document-service.js';
import { parseBody } from './auth.js';
import { authenticate } from './sessions.js';

/** What the document routes need. */
export interface DocumentRouteOptions {
  documents: DocumentService;
  auth: Authenticator;
  maxBytes: number;
  /** Uploads received at once by this node; more are refused with RATE_LIMITED. */
  maxConcurrentUploads: number;
}

const listQuery = z.object({ limit: z.coerce.number().int().min(1).max(100).optional(), cursor: text(200).optional() }).strict();

/** `POST|GET /v1/documents`, `GET|DELETE /v1/documents/:id`, `GET /v1/documents/:id/content`, `GET /v1/documents/:id/entities`. */
export async function registerDocumentRoutes(app: FastifyInstance, options: DocumentRouteOptions): Promise<void> {
  // One byte over the limit reaches the service, whose meter refuses the upload with 413
  // (the plugin itself would only truncate the stream).
  await app.register(multipart, { limits: { fileSize: options.maxBytes + 1, files: 1, fields: 10, fieldSize: 64 * 1024 }, throwFileSizeLimit: true });

  let uploading = 0;
  app.post('/v1/documents', async (request, reply) => {
    const caller = await authenticate(request, options.auth);
    if (!request.isMultipart()) throw new AppError('VALIDATION', { message: 'expected multipart/form-data with a file field' });
    // Each upload holds a connection, a spool file and a stream to object storage.
    if (uploading >= options.maxConcurrentUploads) {
      throw new AppError('RATE_LIMITED', { message: 'this node receives too many uploads at once; retry shortly', retryAfterMs: 1_000 });
    }
    uploading++;
    try {
      return await receive(request, reply, caller);
    } finally {
      uploading--;
    }
  });

  const receive = async (request: FastifyRequest, reply: FastifyReply, caller: Caller) => {
    let title: string | undefined;
    let metadata: Record<string, unknown> | undefined;
    for await (const part of request.parts()) {
      if (part.type === 'field') {
        const value = String(part.value);
        if (part.fieldname === 'title') title = parseBody(text(255).pipe(z.string().trim().min(1)), value);
        else if (part.fieldname === 'metadata') {
          let parsed: unknown;
          try {
            parsed = JSON.parse(value);
          } catch {
            throw new AppError('VALIDATION', { message: 'metadata must be JSON', details: { field: 'metadata' } });
          }
          metadata = parseBody(jsonObject, parsed);
        }
        continue;
      }
      if (part.fieldname !== 'file') {
        part.file.resume();
        throw new AppError('VALIDATION', { message: 'the file field must be named file', details: { field: part.fieldname } });
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
          throw new AppError('PAYLOAD_TOO_LARGE', { message: `documents are at most ${options.maxBytes} bytes`, cause: error });
        }
        throw error;
      }
    }
    throw new AppError('VALIDATION', { message: 'no file in the request', details: { field: 'file' } });
  };

  app.get('/v1/documents', async (request) => {
    const caller = await authenticate(request, options.auth);
    const query = parseBody(listQuery, request.query);
    return options.documents.list(caller, { limit: query.limit ?? 20, ...(query.cursor === undefined ? {} : { cursor: query.cursor }) });
  });

  app.get('/v1/documents/:id', async (request) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    return { document: await options.documents.get(caller, id) };
  });

  app.get('/v1/documents/:id/content', async (request, reply) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const { url } = await options.documents.contentUrl(caller, id);
    return reply.redirect(url, 302);
  });

  app.get('/v1/documents/:id/entities', async (request) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    const { limit } = parseBody(documentEntitiesQuery, request.query);
    return { entities: await options.documents.entities(caller, id, limit) };
  });

  app.delete('/v1/documents/:id', async (request, reply) => {
    const caller = await authenticate(request, options.auth);
    const { id } = parseBody(z.object({ id: uuid }), request.params);
    await options.documents.delete(caller, id);
    return reply.status(204).send();
  });
}
