import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import { FsObjectStore } from '../stores/objects/fs-object-store.js';
import type { ObjectStore } from '../stores/objects/object-store.js';
import { S3ObjectStore } from '../stores/objects/s3-object-store.js';
import { BACKUP_ID } from './manifest.js';

/**
 * Where backups live: a directory, or `s3://bucket/prefix` on the S3 server the
 * configuration names (S3_ENDPOINT and its keys). Either way it is an object store, and
 * one backup is the prefix `<base>/<id>/`.
 */
export interface BackupLocation {
  readonly store: ObjectStore;
  /** Prefix inside the store ('' or ending with '/'). */
  readonly base: string;
  /** As the operator wrote it, for messages. */
  readonly text: string;
}

const S3_URL = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;

/** Opens a location (`--to`, `--from`, BACKUP_TARGET). */
export async function openLocation(text: string, config: Config): Promise<BackupLocation> {
  const match = S3_URL.exec(text);
  if (match !== null) {
    if (config.objects.mode !== 's3')
      throw new AppError('VALIDATION', {
        message: 'an s3:// backup location needs S3_ENDPOINT (and its keys) configured',
      });
    const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
    const store = new S3ObjectStore({ ...config.objects, bucket: match[1] as string });
    await store.init();
    return { store, base: prefix === '' ? '' : `${prefix}/`, text };
  }
  if (text.startsWith('s3:'))
    throw new AppError('VALIDATION', { message: `not an s3://bucket/prefix location: ${text}` });
  const dir = path.resolve(text);
  // The directory adapter of the embedded default; its signing key is never used here.
  const store = new FsObjectStore({
    dir,
    bucket: '',
    publicUrl: () => 'http://127.0.0.1',
    signingKey: randomBytes(32).toString('hex'),
  });
  await store.init();
  return { store, base: '', text: dir };
}

/**
 * A location and one backup in it, from a reference to the backup itself: its directory,
 * or `s3://bucket/prefix/<id>`.
 */
export async function openBackup(reference: string, config: Config): Promise<{ location: BackupLocation; id: string }> {
  const trimmed = reference.replace(/\/+$/, '');
  const id = trimmed.slice(trimmed.lastIndexOf('/') + 1);
  const parent = trimmed.slice(0, Math.max(0, trimmed.lastIndexOf('/')));
  if (!BACKUP_ID.test(id)) {
    throw new AppError('VALIDATION', {
      message: `${reference} does not name a backup (its last part is the backup id, vh-YYYYMMDDTHHMMSSZ)`,
    });
  }
  return { location: await openLocation(parent === '' ? '.' : parent, config), id };
}
