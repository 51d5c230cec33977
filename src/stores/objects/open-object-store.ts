import type pg from 'pg';
import type { Config } from '../../config/config.js';
import type { Closers } from '../../util/closers.js';
import { loadOrCreateSecret } from '../../util/local-secrets.js';
import { FsObjectStore } from './fs-object-store.js';
import type { ObjectStore } from './object-store.js';
import { S3ObjectStore } from './s3-object-store.js';
import { assertSharedObjectDirectory } from './shared-directory.js';

/** The object store the configuration names (S3, or the directory of the embedded default); not yet initialised. */
export async function openObjectStore(config: Config, deps: { publicUrl: () => string }): Promise<ObjectStore> {
  return config.objects.mode === 's3'
    ? new S3ObjectStore(config.objects)
    : new FsObjectStore({
        dir: config.objects.dir,
        bucket: config.objects.bucket,
        publicUrl: deps.publicUrl,
        signingKey: await loadOrCreateSecret(config.dataDir, 'object-url-key'),
      });
}

/**
 * The node's object store, initialised (the bucket exists). A directory is shared state:
 * with a PostgreSQL other nodes may use, it must be the one they see (one line naming
 * S3_ENDPOINT otherwise).
 */
export async function startObjectStore(
  config: Config,
  deps: { publicUrl: () => string; pool: pg.Pool; closers: Closers },
): Promise<ObjectStore> {
  const objects = await openObjectStore(config, deps);
  await objects.init();
  deps.closers.add('object store', () => objects.close());
  if (objects instanceof FsObjectStore && config.postgres.mode === 'external') {
    await assertSharedObjectDirectory(deps.pool, objects.root, objects.bucket);
  }
  return objects;
}
