import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ObjectsConfig } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import { packageRoot } from '../util/package-root.js';

/** The files of the browser app, as `npm run build` bundles them into dist/web/. */
const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
} as const;

/** Where the browser fetches audio from: presigned URLs point at S3 itself, or at this node with the embedded store. */
function objectOrigin(objects: ObjectsConfig): string | undefined {
  if (objects.mode !== 's3') return undefined;
  const address = objects.publicEndpoint ?? objects;
  return `${address.useSSL ? 'https' : 'http'}://${address.endPoint}:${address.port}`;
}

/**
 * The page's Content-Security-Policy: its own script and style only (no inline code, no
 * eval, no other origin), Socket.IO and the API on this origin, audio from object storage.
 */
export function contentSecurityPolicy(objects: ObjectsConfig): string {
  const media = ["'self'", 'blob:', objectOrigin(objects)].filter((source) => source !== undefined).join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    `media-src ${media}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * `GET /`, `/app.js`, `/app.css`: the browser app (web/), built on the client SDK. Read
 * once at start; a node started from a build without it answers 404 there and works
 * otherwise.
 */
export async function registerWebApp(app: FastifyInstance, options: { objects: ObjectsConfig }): Promise<void> {
  const dir = path.join(packageRoot(), 'dist', 'web');
  const csp = contentSecurityPolicy(options.objects);
  for (const [route, [file, type]] of Object.entries(FILES)) {
    const body = await readFile(path.join(dir, file)).catch(() => undefined);
    app.get(route, { schema: { hide: true } }, async (_request, reply) => {
      if (body === undefined)
        throw new AppError('NOT_FOUND', { message: 'the browser app is not built (npm run build)' });
      return reply
        .type(type)
        .header('content-security-policy', csp)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(body);
    });
  }
}
