import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { type BucketItem, Client } from 'minio';
import { AppError, DependencyTimeoutError } from '../../errors/app-error.js';
import {
  assertObjectKey,
  assertObjectPrefix,
  attachmentDisposition,
  type DownloadOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

/** Connection settings of the S3 adapter. */
export interface S3ObjectStoreOptions {
  /** A request that receives nothing for this long fails (UNAVAILABLE): `S3_TIMEOUT_MS`. */
  idleTimeoutMs: number;
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** Where clients reach S3, when not at `endPoint`: presigned URLs are signed for it. */
  publicEndpoint?: { endPoint: string; port: number; useSSL: boolean };
}

const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchObject']);

function isNotFound(error: unknown): boolean {
  return typeof error === 'object' && error !== null && NOT_FOUND_CODES.has(String((error as { code?: unknown }).code));
}

/** Streams of unknown size up to this many bytes are uploaded as one buffer. */
const SMALL_BYTES = 8 * 1024 * 1024;

/**
 * A stream of unknown size, read up to SMALL_BYTES: a shorter one becomes a buffer, a longer
 * one a stream of the same bytes. (minio's multipart upload of a stream that turns out
 * empty sends an empty part list, which S3 refuses as MalformedXML.)
 */
async function smallAsBuffer(body: Readable): Promise<Buffer | Readable> {
  const iterator = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let bytes = 0;
  while (bytes <= SMALL_BYTES) {
    const next = await iterator.next();
    if (next.done === true) return Buffer.concat(head);
    head.push(next.value);
    bytes += next.value.length;
  }
  return Readable.from(
    (async function* () {
      yield* head;
      for (let next = await iterator.next(); next.done !== true; next = await iterator.next()) yield next.value;
    })(),
  );
}

/** Maps an S3 failure to the registry: connection problems are UNAVAILABLE (safe to retry). */
function unavailable(error: unknown): AppError {
  return new AppError('UNAVAILABLE', { message: 'object storage is unavailable', cause: error });
}

/** `http`/`https` whose requests are destroyed after `idleMs` without activity. */
function deadlineTransport(base: typeof http | typeof https, idleMs: number): Pick<typeof http, 'request'> {
  return {
    request: ((options: http.RequestOptions, callback?: (response: http.IncomingMessage) => void) => {
      const request = base.request(options, callback);
      request.setTimeout(idleMs, () => request.destroy(new DependencyTimeoutError('object storage', idleMs)));
      return request;
    }) as typeof http.request,
  };
}

/** MinIO or any S3-compatible service through the `minio` client. */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: Client;
  /**
   * Signs presigned URLs: the client itself, or one for the public endpoint (signing is
   * local, and with the region given it never asks the endpoint anything).
   */
  private readonly signer: Client;

  constructor(private readonly options: S3ObjectStoreOptions) {
    this.bucket = options.bucket;
    this.client = new Client({
      // Every request to S3 has a deadline: one that stalls (no byte either way) for
      // idleTimeoutMs is destroyed, and the caller gets UNAVAILABLE.
      transport: deadlineTransport(options.useSSL ? https : http, options.idleTimeoutMs),
      endPoint: options.endPoint,
      port: options.port,
      useSSL: options.useSSL,
      accessKey: options.accessKey,
      secretKey: options.secretKey,
      region: options.region,
      pathStyle: true,
    });
    const pub = options.publicEndpoint;
    this.signer =
      pub === undefined
        ? this.client
        : new Client({
            ...pub,
            accessKey: options.accessKey,
            secretKey: options.secretKey,
            region: options.region,
            pathStyle: true,
          });
  }

  async init(): Promise<void> {
    try {
      if (!(await this.client.bucketExists(this.bucket)))
        await this.client.makeBucket(this.bucket, this.options.region);
    } catch (error) {
      // Another node may have created it between the two calls.
      const code = (error as { code?: string }).code;
      if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw unavailable(error);
    }
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<{ key: string; size: number }> {
    assertObjectKey(key);
    const meta: Record<string, string> = { 'Content-Type': options.contentType };
    for (const [name, value] of Object.entries(options.metadata ?? {})) meta[`X-Amz-Meta-${name}`] = value;
    try {
      const sized = Buffer.isBuffer(body) || options.size !== undefined ? body : await smallAsBuffer(body);
      await this.client.putObject(this.bucket, key, sized, Buffer.isBuffer(sized) ? sized.length : options.size, meta);
    } catch (error) {
      throw unavailable(error);
    }
    const info = await this.stat(key);
    return { key, size: info?.size ?? 0 };
  }

  async get(key: string): Promise<Readable> {
    assertObjectKey(key);
    try {
      return await this.client.getObject(this.bucket, key);
    } catch (error) {
      if (isNotFound(error)) throw new AppError('NOT_FOUND', { message: 'object not found', cause: error });
      throw unavailable(error);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertObjectKey(key);
    try {
      const info = await this.client.statObject(this.bucket, key);
      const metadata: Record<string, string> = {};
      let contentType = 'application/octet-stream';
      for (const [name, value] of Object.entries(info.metaData ?? {})) {
        const lower = name.toLowerCase();
        if (lower === 'content-type') contentType = String(value);
        else if (lower.startsWith('x-amz-meta-')) metadata[lower.slice('x-amz-meta-'.length)] = String(value);
        else if (!['etag', 'last-modified', 'content-length'].includes(lower)) metadata[lower] = String(value);
      }
      return { key, size: info.size, lastModified: info.lastModified, contentType, metadata };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw unavailable(error);
    }
  }

  async delete(key: string): Promise<void> {
    assertObjectKey(key);
    try {
      await this.client.removeObject(this.bucket, key);
    } catch (error) {
      if (!isNotFound(error)) throw unavailable(error);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    assertObjectPrefix(prefix);
    const items: ObjectInfo[] = [];
    try {
      const stream = this.client.listObjectsV2(this.bucket, prefix, true);
      for await (const item of stream as AsyncIterable<BucketItem>) {
        if (item.name === undefined) continue;
        items.push({ key: item.name, size: item.size, lastModified: item.lastModified ?? new Date(0) });
      }
    } catch (error) {
      throw unavailable(error);
    }
    return items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async presignedGetUrl(
    key: string,
    expiresInSeconds: number,
    download: DownloadOptions,
  ): Promise<{ url: string; expiresAt: Date }> {
    assertObjectKey(key);
    const expiresAt = new Date(Date.now() + expiresInSeconds * 1000);
    // Signed response overrides: S3 serves the object with these headers, whatever type it was stored with.
    const url = await this.signer.presignedGetObject(this.bucket, key, expiresInSeconds, {
      'response-content-disposition': attachmentDisposition(download.filename),
      'response-content-type': download.contentType,
    });
    return { url, expiresAt };
  }

  async ping(): Promise<void> {
    try {
      await this.client.bucketExists(this.bucket);
    } catch (error) {
      throw unavailable(error);
    }
  }

  async close(): Promise<void> {}
}
