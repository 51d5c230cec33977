import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, isServerFault, toAppError, toWireError } from '../errors/app-error.js';
import { validationError } from '../errors/validation.js';

/** Maps Fastify's own failures to registry codes. */
function fromFastify(error: FastifyError): AppError | undefined {
  if (error.validation !== undefined) {
    // The route schemas' failures (zod, through the type provider): the same shape as every other VALIDATION.
    const issues = error.validation.map((v) => ({
      path: v.instancePath.split('/').filter((part) => part !== ''),
      message: v.message ?? 'invalid',
    }));
    return validationError(`the request ${error.validationContext ?? 'body'} is invalid`, issues);
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new AppError('PAYLOAD_TOO_LARGE', { cause: error });
  if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
    return new AppError('VALIDATION', { message: 'unsupported content type', cause: error });
  if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
    return new AppError('VALIDATION', { message: error.message, cause: error });
  }
  return undefined;
}

/**
 * Every HTTP error leaves as `{ error: { code, message, details? } }` with the registry's
 * status; 429 carries `Retry-After`. Unknown errors are logged and answered INTERNAL.
 */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const mapped = error instanceof AppError ? error : (fromFastify(error) ?? toAppError(error));
    if (isServerFault(mapped)) request.log.error({ err: error }, 'request failed');
    const wire = toWireError(mapped);
    const status = mapped.status;
    if (wire.retryAfterMs !== undefined) reply.header('Retry-After', Math.ceil(wire.retryAfterMs / 1000));
    const { retryAfterMs: _ignored, ...body } = wire;
    void reply.status(status).send({ error: body });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send({ error: { code: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` } });
  });
}
