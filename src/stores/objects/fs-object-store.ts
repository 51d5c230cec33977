import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../../errors/app-error.js';
import {
  assertObjectKey,
  assertObjectPrefix,
  type DownloadOptions,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
} from './object-store.js';

/** Options of the directory-backed object store. */
export interface FsObjectStoreOptions {
  /** Root directory; objects live under `<dir>/<bucket>/`. */
  dir: string;
  bucket: string;
  /** Base URL of this node, used to build presigned URLs served by `GET /v1/objects/...`. */
  publicUrl: () => string;
  /** HMAC key for presigned URLs (a local secret). */
  signingKey: string;
}

const META_DIR = '.meta';

/**
 * Object storage in a directory, for the single-node embedded default. Writes go to a
 * temporary file and are renamed into place, so a reader never sees half an object.
 * Presigned URLs are HMAC-signed and served by this node's HTTP API.
 */
export class FsObjectStore implements ObjectStore {
  /** Its presigned URLs point at this node, which serves them (`/v1/objects/...`). */
  readonly signedDownloads = this;

  readonly bucket: string;
  /** The directory holding the objects (`<dir>/<bucket>`). */
  readonly root: string;

  constructor(private readonly options: FsObjectStoreOptions) {
    this.bucket = options.bucket;
    this.root = path.resolve(options.dir, options.bucket);
  }

  async init(): Promise<void> {
    await mkdir(path.join(this.root, META_DIR), { recursive: true });
    await mkdir(path.join(this.root, '.tmp'), { recursive: true });
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<{ key: string; size: number }> {
    const file = this.fileOf(key);
    const tmp = path.join(this.root, '.tmp', randomUUID());
    await mkdir(path.dirname(file), { recursive: true });
    try {
      await pipeline(Buffer.isBuffer(body) ? Readable.from([body]) : body, createWriteStream(tmp));
      const size = (await stat(tmp)).size;
      const meta = path.join(this.root, META_DIR, `${key}.json`);
      await mkdir(path.dirname(meta), { recursive: true });
      await writeFile(
        meta,
        JSON.stringify({ contentType: options.contentType, metadata: lowerKeys(options.metadata ?? {}) }),
      );
      await rename(tmp, file);
      return { key, size };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async get(key: string): Promise<Readable> {
    const file = this.fileOf(key);
    try {
      await stat(file);
    } catch {
      throw new AppError('NOT_FOUND', { message: 'object not found' });
    }
    return createReadStream(file);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const file = this.fileOf(key);
    try {
      const info = await stat(file);
      const meta = JSON.parse(
        await readFile(path.join(this.root, META_DIR, `${key}.json`), 'utf8').catch(() => '{}'),
      ) as {
        contentType?: string;
        metadata?: Record<string, string>;
      };
      return {
        key,
        size: info.size,
        lastModified: info.mtime,
        contentType: meta.contentType ?? 'application/octet-stream',
        metadata: meta.metadata ?? {},
      };
    } catch {
      return undefined;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.fileOf(key), { force: true });
    await rm(path.join(this.root, META_DIR, `${key}.json`), { force: true });
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    assertObjectPrefix(prefix);
    const out: ObjectInfo[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const entry of entries) {
        if (entry.name.startsWith('.')) continue;
        const key = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) {
          if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(path.join(dir, entry.name), key);
        } else if (key.startsWith(prefix)) {
          const info = await stat(path.join(dir, entry.name));
          out.push({ key, size: info.size, lastModified: info.mtime });
        }
      }
    };
    await walk(this.root, '');
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async presignedGetUrl(
    key: string,
    expiresInSeconds: number,
    download: DownloadOptions,
  ): Promise<{ url: string; expiresAt: Date }> {
    assertObjectKey(key);
    const expiresAt = new Date(Date.now() + expiresInSeconds * 1000);
    const expires = Math.floor(expiresAt.getTime() / 1000);
    const signature = this.sign(key, expires, download);
    const base = this.options.publicUrl().replace(/\/$/, '');
    const query = new URLSearchParams({
      expires: String(expires),
      filename: download.filename,
      type: download.contentType,
      signature,
    });
    const url = `${base}/v1/objects/${key.split('/').map(encodeURIComponent).join('/')}?${query.toString()}`;
    return { url, expiresAt };
  }

  /**
   * Checks a presigned URL's parameters (the download name and type are signed too, so a
   * link cannot be edited to serve the object inline); used by the route that serves them.
   */
  verifyPresigned(key: string, expires: number, download: DownloadOptions, signature: string): boolean {
    if (!Number.isInteger(expires) || expires * 1000 < Date.now()) return false;
    const expected = Buffer.from(this.sign(key, expires, download));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  async ping(): Promise<void> {
    await stat(this.root);
  }

  async close(): Promise<void> {}

  private sign(key: string, expires: number, download: DownloadOptions): string {
    return createHmac('sha256', this.options.signingKey)
      .update(JSON.stringify([this.bucket, key, expires, download.filename, download.contentType]))
      .digest('base64url');
  }

  private fileOf(key: string): string {
    return path.join(this.root, assertObjectKey(key));
  }
}

function lowerKeys(record: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}
