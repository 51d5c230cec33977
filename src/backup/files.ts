import { createHash } from 'node:crypto';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors/app-error.js';
import { type BackupKeys, decryptStream, encryptStream, fileAssociatedData } from './crypto.js';
import { BackupRefused } from './errors.js';
import type { ManifestFile } from './manifest.js';
import type { BackupLocation } from './target.js';

const CONTENT_TYPE = 'application/octet-stream';

/**
 * Counts the bytes and SHA-256 of what passes through; `atEnd` may fail the stream on what
 * it counted (a checksum that differs from the manifest's).
 */
function meter(atEnd: (counted: { bytes: number; sha256: string }) => Error | undefined = () => undefined): {
  stream: Transform;
  result: () => { bytes: number; sha256: string };
} {
  const hash = createHash('sha256');
  let bytes = 0;
  let counted: { bytes: number; sha256: string } | undefined;
  const result = () => (counted ??= { bytes, sha256: hash.digest('hex') });
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length;
      hash.update(chunk);
      callback(null, chunk);
    },
    flush(callback) {
      callback(atEnd(result()));
    },
  });
  return { stream, result };
}

/**
 * Writes the files of one backup, encrypted when keys are given (each bound to its name and
 * this backup's id), and remembers size and checksum of each.
 */
export class BackupWriter {
  readonly files: ManifestFile[] = [];

  constructor(
    private readonly location: BackupLocation,
    readonly id: string,
    private readonly keys: BackupKeys | undefined,
  ) {
    if (keys !== undefined && keys.format !== 2) throw new Error('backups are written in format 2 only');
  }

  /** Stores `source` under `name` (streamed); `through` may look at the plain bytes (row counts). */
  async write(
    name: string,
    source: Readable,
    through: Transform[] = [],
    extra: Pick<ManifestFile, 'contentType' | 'metadata'> = {},
  ): Promise<ManifestFile> {
    const counted = meter();
    const body = new PassThrough();
    const stages: NodeJS.ReadWriteStream[] = [
      ...through,
      ...(this.keys === undefined ? [] : [encryptStream(this.keys.file, fileAssociatedData(this.id, name))]),
      counted.stream,
    ];
    const upload = this.location.store
      .put(this.keyOf(name), body, { contentType: CONTENT_TYPE })
      .catch((error: unknown) => {
        // Nobody reads the body any more: the source stops instead of waiting on backpressure.
        source.destroy(error instanceof Error ? error : new Error(String(error)));
        throw error;
      });
    // Both must finish: a failing source fails the upload, and a failing upload stops the source.
    await Promise.all([
      pipeline(source, ...(stages as [Transform]), body).catch((error: unknown) => {
        body.destroy(error as Error);
        throw error;
      }),
      upload,
    ]);
    const file: ManifestFile = { name, ...counted.result(), ...extra };
    this.files.push(file);
    return file;
  }

  /** The manifest, last, in clear text (it holds sizes, counts, checksums and its own mac, no data). */
  async writeManifest(manifest: unknown): Promise<void> {
    await this.location.store.put(this.keyOf('manifest.json'), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), {
      contentType: 'application/json',
    });
  }

  keyOf(name: string): string {
    return `${this.location.base}${this.id}/${name}`;
  }
}

/**
 * Reads the files of one backup, checking each against the manifest as it streams, and
 * decrypting with `keys` when given (format 2: each file under the name and backup id it
 * was written with).
 */
export class BackupReader {
  constructor(
    private readonly location: BackupLocation,
    readonly id: string,
    private readonly keys: BackupKeys | undefined,
  ) {}

  async manifestText(): Promise<string> {
    let stream: Readable;
    try {
      stream = await this.location.store.get(this.keyOf('manifest.json'));
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND')
        throw new BackupRefused(`${this.id}: manifest.json is missing (an unfinished backup, or one being written)`);
      throw error;
    }
    const parts: Buffer[] = [];
    for await (const part of stream) parts.push(Buffer.from(part as Buffer));
    return Buffer.concat(parts).toString('utf8');
  }

  /**
   * The plain bytes of a file, streamed; the stream fails (BackupRefused) when the stored
   * bytes differ from the manifest's size or checksum, or do not decrypt.
   */
  async open(file: ManifestFile): Promise<Readable> {
    let stored: Readable;
    try {
      stored = await this.location.store.get(this.keyOf(file.name));
    } catch (error) {
      if (error instanceof AppError && error.code === 'NOT_FOUND')
        throw new BackupRefused(`${this.id}: ${file.name} is missing`);
      throw error;
    }
    const check = meter(({ bytes, sha256 }) =>
      bytes !== file.bytes || sha256 !== file.sha256
        ? new BackupRefused(
            `${file.name}: ${bytes !== file.bytes ? `${bytes} bytes where the manifest says ${file.bytes}` : 'checksum differs from the manifest'}`,
          )
        : undefined,
    ).stream;
    const out = new PassThrough();
    const decrypt =
      this.keys === undefined
        ? []
        : [decryptStream(this.keys.file, this.keys.format === 1 ? undefined : fileAssociatedData(this.id, file.name))];
    const stages: NodeJS.ReadWriteStream[] = [check, ...decrypt];
    pipeline(stored, ...(stages as [Transform]), out).catch((error: unknown) =>
      out.destroy(
        error instanceof BackupRefused
          ? error
          : new BackupRefused(`${file.name}: ${error instanceof Error ? error.message : String(error)}`),
      ),
    );
    return out;
  }

  /** Reads a file to its end (checksum and authentication), keeping nothing. */
  async check(file: ManifestFile): Promise<void> {
    try {
      for await (const _ of await this.open(file)) {
        // Only the checks matter.
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw error instanceof BackupRefused && message.startsWith(file.name)
        ? error
        : new BackupRefused(`${file.name}: ${message}`);
    }
  }

  keyOf(name: string): string {
    return `${this.location.base}${this.id}/${name}`;
  }
}
