import type { Readable } from 'node:stream';
import { AppError } from '../../errors/app-error.js';

/** What the store knows about one object. */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  /** Present from `stat`; `list` does not return it. */
  contentType?: string;
  /** User metadata given to `put` (keys lower-cased), present from `stat`. */
  metadata?: Record<string, string>;
}

/** Options of `put`. */
export interface PutOptions {
  /** MIME type stored with the object. */
  contentType: string;
  /** Size in bytes when known in advance (lets S3 avoid multipart buffering). */
  size?: number;
  /** Small string metadata (keys `[a-z0-9-]`), stored with the object. */
  metadata?: Record<string, string>;
}

/**
 * How a presigned download is served: always as an attachment (no browser renders user
 * content inline, so an uploaded HTML page cannot run in our origin or S3's), under this
 * file name and content type.
 */
export interface DownloadOptions {
  /** Name the browser saves the file under (any text: it is encoded safely). */
  filename: string;
  /** Content type of the response: `application/octet-stream` unless the type is known to be safe (audio). */
  contentType: string;
}

/**
 * Files, voice audio and backup archives (MinIO/S3, or a directory on the embedded
 * default). Keys are always built by the server from validated ids (`assertObjectKey`).
 */
export interface ObjectStore {
  /** Bucket (or top directory) holding every object. */
  readonly bucket: string;
  /** Creates the bucket if missing. Called once at start. */
  init(): Promise<void>;
  /** Stores `body` under `key`, replacing any object there. Streams are not buffered whole. */
  put(key: string, body: Buffer | Readable, options: PutOptions): Promise<{ key: string; size: number }>;
  /** Streams the object; throws AppError NOT_FOUND when missing. */
  get(key: string): Promise<Readable>;
  /** Size, type and metadata, or undefined when missing. */
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Removes the object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Every object whose key starts with `prefix`, ordered by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /**
   * A URL that downloads the object without credentials until `expiresAt`, served as an
   * attachment with the given name and content type.
   */
  presignedGetUrl(
    key: string,
    expiresInSeconds: number,
    download: DownloadOptions,
  ): Promise<{ url: string; expiresAt: Date }>;
  /** One round trip to the backing service. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Set when this node itself must serve the presigned URLs (the embedded store: they point
   * at `/v1/objects/...` here); S3 serves its own.
   */
  readonly signedDownloads?: SignedDownloads;
}

/** What serving a presigned download takes: checking the link, then reading the object. */
export interface SignedDownloads {
  verifyPresigned(key: string, expires: number, download: DownloadOptions, signature: string): boolean;
  stat(key: string): Promise<ObjectInfo | undefined>;
  get(key: string): Promise<Readable>;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

/**
 * Accepts only keys made of `/`-separated segments of letters, digits, `.`, `_` and `-`,
 * none starting with a dot (so no `..`, no hidden files, no absolute paths), at most 512
 * characters. Object keys never come from user-supplied names.
 */
export function assertObjectKey(key: string): string {
  const segments = key.split('/');
  if (key.length === 0 || key.length > 512 || !segments.every((s) => SEGMENT.test(s))) {
    throw new AppError('VALIDATION', { message: 'invalid object key', details: { field: 'key' } });
  }
  return key;
}

/** Same rule as keys, for a prefix of `list` (may be empty or end with `/`). */
export function assertObjectPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  assertObjectKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
  return prefix;
}

/** Content type of every download that is not audio: no browser renders or sniffs it. */
export const OPAQUE_CONTENT_TYPE = 'application/octet-stream';

// biome-ignore lint/suspicious/noControlCharactersInRegex: download names lose their control characters here
const CONTROL = /[\u0000-\u001f\u007f]/g;

/**
 * `Content-Disposition: attachment` for any file name (RFC 6266): a plain-ASCII
 * `filename` for old clients (anything else, quotes and backslashes become `_`) and the
 * exact name as UTF-8 in `filename*` (RFC 8187). Control characters are dropped, so no
 * header can be split.
 */
export function attachmentDisposition(filename: string): string {
  const clean = filename.replace(CONTROL, '').trim() || 'download';
  const ascii = clean.replace(/[^\x20-\x7e]|["\\]/g, '_');
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
