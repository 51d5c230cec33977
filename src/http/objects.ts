import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AppError } from '../errors/app-error.js';
import { attachmentDisposition, type SignedDownloads } from '../stores/objects/object-store.js';

const query = z.object({
  expires: z.coerce.number().int(),
  filename: z.string().max(1_000),
  type: z.string().max(200),
  signature: z.string().max(128),
});

/**
 * `GET /v1/objects/<key>?expires=&signature=`: serves presigned URLs of the embedded
 * object store (with S3 the URL points at S3 itself and this route is not registered).
 */
export function registerObjectRoutes(app: FastifyInstance, store: SignedDownloads): void {
  app.get('/v1/objects/*', { schema: { hide: true } }, async (request, reply) => {
    const key = (request.params as { '*': string })['*'];
    const parsed = query.safeParse(request.query);
    const download = parsed.success ? { filename: parsed.data.filename, contentType: parsed.data.type } : undefined;
    if (
      !parsed.success ||
      download === undefined ||
      !store.verifyPresigned(key, parsed.data.expires, download, parsed.data.signature)
    ) {
      throw new AppError('FORBIDDEN', { message: 'the link is invalid or has expired' });
    }
    const info = await store.stat(key);
    if (info === undefined) throw new AppError('NOT_FOUND', { message: 'object not found' });
    // Served as S3 serves a presigned download: an attachment of the signed type, never sniffed.
    void reply.header('content-type', download.contentType);
    void reply.header('content-disposition', attachmentDisposition(download.filename));
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('content-length', info.size);
    return reply.send(await store.get(key));
  });
}
