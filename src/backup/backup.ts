import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type pg from 'pg';
import type { Config } from '../config/config.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { GraphDumpRecord } from '../stores/graph/graph-store.js';
import { openGraphStore } from '../stores/graph/open-graph.js';
import { openObjectStore } from '../stores/objects/open-object-store.js';
import { migrate, readMigrations } from '../stores/postgres/migrator.js';
import { maintainPartitions } from '../stores/postgres/partitions.js';
import { openIngestionQueue } from '../stores/queue/open-queue.js';
import type { Stores } from '../stores/stores.js';
import type { VectorRecord } from '../stores/vectors/vector-index.js';
import { packageVersion } from '../util/package-root.js';
import { deriveKey, type EncryptionInfo, newEncryption } from './crypto.js';
import { BackupRefused } from './errors.js';
import { BackupReader, BackupWriter } from './files.js';
import { BACKUP_FORMAT_VERSION, type Manifest, type ManifestFile, manifestSchema, REDIS_REASON } from './manifest.js';
import { loadPostgres, nonEmptyTables } from './postgres.js';
import type { BackupLocation } from './target.js';

/** Counted progress of one phase (`startProgress` in the CLI). */
export type ProgressFactory = (
  label: string,
  total: number,
) => { increment(by?: number): void; setTotal(total: number): void; stop(): void };

/** What a backup or restore reports as it goes. */
export interface BackupHooks {
  progress: ProgressFactory;
  logger: Logger;
}

const GRAPH_FILE = 'graph/neo4j.jsonl';
const LOCK = 'backup';
const LOCK_LEASE_MS = 60_000;
const EMBED_BATCH = 64;

function backupId(now: Date): string {
  return `vh-${now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

/** The key of an encrypted backup, from BACKUP_ENCRYPTION_KEY. */
function keyFor(encryption: EncryptionInfo | null, secret: string | undefined): Buffer | undefined {
  if (encryption === null) return undefined;
  if (secret === undefined || secret === '')
    throw new BackupRefused('the backup is encrypted: set BACKUP_ENCRYPTION_KEY');
  return deriveKey(secret, encryption);
}

function sources(config: Config): Manifest['sources'] {
  return {
    postgres: config.postgres.mode === 'external' ? 'external' : 'embedded',
    objects: config.objects.mode === 's3' ? 's3' : 'fs',
    vector: config.vector.mode === 'milvus' ? 'milvus' : 'embedded',
    graph: config.graph.mode === 'neo4j' ? 'neo4j' : 'embedded',
    redis: config.redis.mode === 'external' ? 'external' : 'memory',
  };
}

/** JSON lines of an async sequence, as a byte stream. */
function jsonLines(records: AsyncIterable<unknown>): Readable {
  return Readable.from(
    (async function* () {
      for await (const record of records) yield `${JSON.stringify(record)}\n`;
    })(),
  );
}

/** The records of a JSON-lines stream. */
async function* readJsonLines<T>(stream: Readable): AsyncIterable<T> {
  let rest = '';
  for await (const chunk of stream) {
    rest += (chunk as Buffer).toString('utf8');
    let newline = rest.indexOf('\n');
    while (newline !== -1) {
      const line = rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      if (line !== '') yield JSON.parse(line) as T;
      newline = rest.indexOf('\n');
    }
  }
  if (rest.trim() !== '') yield JSON.parse(rest) as T;
}

/**
 * Takes a backup of a serving cluster, one at a time (a cluster lock): a consistent
 * PostgreSQL snapshot, then every object its rows refer to (streamed one by one), then
 * Neo4j's graph when the graph lives there; the manifest is written last, so a backup
 * without one is unfinished. Objects deleted between the snapshot and their copy are
 * listed in the manifest as missing.
 */
export async function createBackup(
  stores: Stores,
  config: Config,
  location: BackupLocation,
  options: {
    encryptionKey?: string | undefined;
    now?: Date;
    /** Checked under the lock: when it answers true, no backup is taken (a scheduled one another node already took). */
    skipIf?: () => Promise<boolean>;
  },
  hooks: BackupHooks,
): Promise<Manifest | undefined> {
  const held = await stores.locks.using(LOCK, LOCK_LEASE_MS, async () => {
    if ((await options.skipIf?.()) === true) return undefined;
    const createdAt = options.now ?? new Date();
    let id = backupId(createdAt);
    if ((await location.store.list(`${location.base}${id}/`)).length > 0)
      id = `${id}-${randomBytes(2).toString('hex')}`;
    const encryption = options.encryptionKey === undefined || options.encryptionKey === '' ? null : newEncryption();
    const writer = new BackupWriter(location, id, keyFor(encryption, options.encryptionKey));

    const tables = hooks.progress('postgres tables', 1);
    const snapshot = await stores.db.dump(
      writer,
      (count) => tables.setTotal(count),
      () => tables.increment(),
    );
    tables.stop();

    const objects = hooks.progress('objects', snapshot.objectKeys.length);
    const missing: string[] = [];
    let objectBytes = 0;
    for (const key of snapshot.objectKeys) {
      const info = await stores.objects.stat(key);
      if (info === undefined) missing.push(key);
      else {
        try {
          await writer.write(`objects/${key}`, await stores.objects.get(key), [], {
            ...(info.contentType === undefined ? {} : { contentType: info.contentType }),
            ...(info.metadata === undefined ? {} : { metadata: info.metadata }),
          });
          objectBytes += info.size;
        } catch (error) {
          // Deleted between the stat and the read.
          if (!(error instanceof AppError && error.code === 'NOT_FOUND')) throw error;
          missing.push(key);
        }
      }
      objects.increment();
    }
    objects.stop();
    if (missing.length > 0)
      hooks.logger.warn({ missing: missing.length }, 'objects deleted after the snapshot are not in the backup');

    let graph: Manifest['parts']['graph'] = null;
    if (stores.graph.dump !== undefined) {
      const counts = { nodes: 0, relationships: 0 };
      const progress = hooks.progress('graph records', await stores.graph.dump.count());
      const counted = (async function* (records: AsyncIterable<GraphDumpRecord>) {
        for await (const record of records) {
          if (record.kind === 'node') {
            counts.nodes++;
            progress.increment();
          } else counts.relationships++;
          yield record;
        }
      })(stores.graph.dump.export());
      await writer.write(GRAPH_FILE, jsonLines(counted));
      progress.stop();
      graph = { ...counts, file: GRAPH_FILE };
    }

    const manifest: Manifest = {
      formatVersion: BACKUP_FORMAT_VERSION,
      id,
      serverVersion: await packageVersion(),
      migration: snapshot.migration,
      createdAt: createdAt.toISOString(),
      finishedAt: new Date().toISOString(),
      encryption,
      sources: sources(config),
      parts: {
        postgres: { method: 'copy-repeatable-read', tables: snapshot.tables, bytes: snapshot.bytes },
        objects: { count: snapshot.objectKeys.length - missing.length, bytes: objectBytes, missing },
        graph,
        vectors: { strategy: 'rebuild-from-chunks', chunks: snapshot.chunks },
        redis: { captured: [], reason: REDIS_REASON },
      },
      files: writer.files,
    };
    await writer.writeManifest(manifest);
    return manifest;
  });
  if (held === undefined) throw new BackupRefused('another backup is running (the backup lock is held)');
  return held.result;
}

/** The manifest of a backup, checked against its schema; BackupRefused when it is missing or damaged. */
export async function readManifest(location: BackupLocation, id: string): Promise<Manifest> {
  const text = await new BackupReader(location, id, undefined).manifestText();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupRefused(`${id}: manifest.json is not JSON`);
  }
  const result = manifestSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BackupRefused(
      `${id}: manifest.json is not a valid manifest (${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''})`,
    );
  }
  if (result.data.id !== id) throw new BackupRefused(`${id}: manifest.json names another backup (${result.data.id})`);
  const names = new Set<string>();
  for (const file of result.data.files) {
    if (names.has(file.name)) throw new BackupRefused(`${id}: manifest.json lists ${file.name} twice`);
    names.add(file.name);
  }
  for (const table of Object.values(result.data.parts.postgres.tables)) {
    if (!names.has(table.file)) throw new BackupRefused(`${id}: manifest.json lists no file for ${table.file}`);
  }
  return result.data;
}

/**
 * Reads every file of a backup to its end and checks it against the manifest (size,
 * SHA-256, and for an encrypted backup its authentication tag): BackupRefused naming the
 * first file that fails.
 */
export async function verifyBackup(
  location: BackupLocation,
  id: string,
  encryptionKey: string | undefined,
  hooks: Pick<BackupHooks, 'progress'>,
): Promise<Manifest> {
  const manifest = await readManifest(location, id);
  const reader = new BackupReader(location, id, keyFor(manifest.encryption, encryptionKey));
  const progress = hooks.progress('verifying files', manifest.files.length);
  try {
    for (const file of manifest.files) {
      await reader.check(file);
      progress.increment();
    }
  } finally {
    progress.stop();
  }
  return manifest;
}

/** One backup as `backup list` shows it. */
export interface BackupSummary {
  id: string;
  createdAt: string | null;
  migration: number | null;
  files: number | null;
  bytes: number | null;
  encrypted: boolean | null;
  /** `ok`, or why the manifest could not be read (an unfinished or damaged backup). */
  state: string;
}

/** The backups of a location, oldest first. */
export async function listBackups(location: BackupLocation): Promise<BackupSummary[]> {
  const ids = new Set<string>();
  for (const object of await location.store.list(location.base)) {
    const id = object.key.slice(location.base.length).split('/')[0] ?? '';
    if (/^vh-\d{8}T\d{6}Z(-[a-z0-9]{4})?$/.test(id)) ids.add(id);
  }
  const summaries: BackupSummary[] = [];
  for (const id of [...ids].sort()) {
    try {
      const manifest = await readManifest(location, id);
      summaries.push({
        id,
        createdAt: manifest.createdAt,
        migration: manifest.migration,
        files: manifest.files.length,
        bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
        encrypted: manifest.encryption !== null,
        state: 'ok',
      });
    } catch (error) {
      if (!(error instanceof BackupRefused)) throw error;
      summaries.push({
        id,
        createdAt: null,
        migration: null,
        files: null,
        bytes: null,
        encrypted: null,
        state: error.message.replace(`${id}: `, ''),
      });
    }
  }
  return summaries;
}

/** Removes backups older than `keepDays` (by the time in their id); returns the ids removed. */
export async function pruneBackups(location: BackupLocation, keepDays: number, now = new Date()): Promise<string[]> {
  const cutoff = now.getTime() - keepDays * 24 * 60 * 60 * 1000;
  const removed: string[] = [];
  for (const backup of await listBackups(location)) {
    const stamp = /^vh-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z/.exec(backup.id);
    if (stamp === null) continue;
    const [, y, mo, d, h, mi, s] = stamp.map(Number) as [number, number, number, number, number, number, number];
    if (Date.UTC(y, mo - 1, d, h, mi, s) >= cutoff) continue;
    // The manifest goes first: a prune that stops halfway leaves an unfinished backup, never one that looks whole.
    await location.store.delete(`${location.base}${backup.id}/manifest.json`);
    for (const object of await location.store.list(`${location.base}${backup.id}/`))
      await location.store.delete(object.key);
    removed.push(backup.id);
  }
  return removed;
}

/** Opens the full stores once the schema is in place (the CLI's `withStores`). */
export type OpenStores = <T>(work: (stores: Stores) => Promise<T>) => Promise<T>;

/** What a restore did. */
export interface RestoreReport {
  id: string;
  tables: number;
  rows: number;
  objects: number;
  graph: { nodes: number; relationships: number } | null;
  vectors: number;
  requeued: number;
  fencesReseeded: number;
}

/**
 * Restores a backup into empty stores. Every file is checked first (checksums, and
 * authentication when encrypted), and every target store must be empty, so that a damaged
 * backup or a wrong target changes nothing. Then: the schema is migrated to the backup's
 * level, the tables are loaded in one transaction, the schema is migrated to this code's
 * level; objects are copied back, Neo4j's graph imported (less the documents the snapshot
 * does not have), vectors rebuilt from the chunks of ready documents, unfinished documents
 * queued again, and fencing counters re-seeded from PostgreSQL's records.
 */
export async function restoreBackup(
  pool: pg.Pool,
  openStores: OpenStores,
  config: Config,
  location: BackupLocation,
  id: string,
  options: { encryptionKey?: string | undefined },
  hooks: BackupHooks,
): Promise<RestoreReport> {
  const manifest = await verifyBackup(location, id, options.encryptionKey, hooks);
  const reader = new BackupReader(location, id, keyFor(manifest.encryption, options.encryptionKey));
  const target = sources(config);
  if (manifest.parts.graph !== null && target.graph !== 'neo4j') {
    throw new BackupRefused('the backup holds a Neo4j graph: restore it with NEO4J_URI set');
  }
  if (manifest.parts.graph === null && target.graph === 'neo4j') {
    throw new BackupRefused('the backup holds the embedded graph (PostgreSQL tables): restore it without NEO4J_URI');
  }
  const migrations = await readMigrations();
  if (manifest.migration > migrations.length) {
    throw new BackupRefused(
      `the backup is at migration ${manifest.migration}, newer than this code (${migrations.length}): restore it with a newer server`,
    );
  }

  // Every target store must be empty before anything is written.
  const full = await nonEmptyTables(pool, Object.keys(manifest.parts.postgres.tables));
  if (full.length > 0)
    throw new BackupRefused(
      `PostgreSQL is not empty (rows in ${full.slice(0, 5).join(', ')}): restore goes into empty stores`,
    );
  const level = await pool
    .query<{ v: number | null }>('select max(version) as v from schema_migrations')
    .catch(() => ({ rows: [{ v: 0 }] }));
  if ((level.rows[0]?.v ?? 0) > manifest.migration) {
    throw new BackupRefused(
      `the database schema (migration ${level.rows[0]?.v}) is newer than the backup's (${manifest.migration}): restore into a new database`,
    );
  }
  const objectStore = await openObjectStore(config, { publicUrl: () => config.publicUrl });
  await objectStore.init();
  const holding = [...(await objectStore.list('documents/')), ...(await objectStore.list('audio/'))];
  await objectStore.close();
  if (holding.length > 0)
    throw new BackupRefused(
      `object storage is not empty (${holding.length} objects under documents/ and audio/): restore goes into empty stores`,
    );
  if (target.graph === 'neo4j') {
    const graphStore = openGraphStore(config, { pool });
    try {
      const nodes = (await graphStore.dump?.count()) ?? 0;
      if (nodes > 0) throw new BackupRefused(`Neo4j is not empty (${nodes} nodes): restore goes into empty stores`);
    } finally {
      await graphStore.close();
    }
  }

  const { logger } = hooks;
  await migrate(pool, logger, migrations.slice(0, manifest.migration));
  const tables = Object.keys(manifest.parts.postgres.tables);
  const loading = hooks.progress('postgres tables', tables.length);
  await loadPostgres(pool, reader, manifest, () => loading.increment());
  loading.stop();
  await migrate(pool, logger, migrations);
  await maintainPartitions(pool, config.database.partitions, logger);

  return openStores(async (stores) => {
    const objectFiles = manifest.files.filter((f) => f.name.startsWith('objects/'));
    const objects = hooks.progress('objects', objectFiles.length);
    for (const file of objectFiles) {
      await stores.objects.put(file.name.slice('objects/'.length), await reader.open(file), {
        contentType: file.contentType ?? 'application/octet-stream',
        ...(file.metadata === undefined ? {} : { metadata: file.metadata }),
      });
      objects.increment();
    }
    objects.stop();

    let graph: RestoreReport['graph'] = null;
    if (manifest.parts.graph !== null && stores.graph.dump !== undefined) {
      graph = await restoreGraph(
        stores,
        reader,
        manifest.files.find((f) => f.name === manifest.parts.graph?.file) as ManifestFile,
        hooks,
      );
    }

    const vectors = await rebuildVectors(stores, hooks.progress('vectors', manifest.parts.vectors.chunks));
    const requeued = await requeueUnfinished(stores, config, logger);
    const fencesReseeded = await reseedFences(stores);
    await stores.db.audit.record(
      { userId: null, userAgent: 'voicehelper-cli' },
      {
        action: 'backup.restore',
        resourceType: 'backup',
        resourceId: id,
        details: { migration: manifest.migration, vectors, requeued },
      },
    );
    return {
      id,
      tables: tables.length,
      rows: Object.values(manifest.parts.postgres.tables).reduce((sum, t) => sum + t.rows, 0),
      objects: objectFiles.length,
      graph,
      vectors,
      requeued,
      fencesReseeded,
    };
  });
}

/** Imports Neo4j's graph, then removes the documents it has that the snapshot does not (ingested after it). */
async function restoreGraph(
  stores: Stores,
  reader: BackupReader,
  file: ManifestFile,
  hooks: BackupHooks,
): Promise<{ nodes: number; relationships: number }> {
  const documentIds: string[] = [];
  const records = (async function* () {
    for await (const record of readJsonLines<GraphDumpRecord>(await reader.open(file))) {
      if (record.kind === 'node' && record.labels.includes('Document') && typeof record.properties['id'] === 'string')
        documentIds.push(record.properties['id']);
      yield record;
    }
  })();
  const counts = await (stores.graph.dump as NonNullable<Stores['graph']['dump']>).import(records);
  const known = await stores.db.documents.existing(documentIds);
  const extra = documentIds.filter((id) => !known.has(id));
  for (const id of extra) await stores.graph.deleteDocument(id);
  if (extra.length > 0)
    hooks.logger.info({ documents: extra.length }, 'removed graph documents the snapshot does not have');
  return counts;
}

/**
 * Vectors are rebuilt from the chunks of ready documents with the configured embedder
 * rather than exported: the chunks are in the snapshot already, the vectors then always
 * match the snapshot (Milvus is not part of PostgreSQL's transaction), and a backup can be
 * restored into the other vector store (embedded to Milvus or back).
 */
async function rebuildVectors(stores: Stores, progress: ReturnType<ProgressFactory>): Promise<number> {
  await stores.vectors.drop();
  await stores.vectors.init();
  let after: { documentId: string; chunkIndex: number } | undefined;
  let total = 0;
  for (;;) {
    const page = await stores.db.documents.readyChunks(after, EMBED_BATCH);
    if (page.length === 0) break;
    const embeddings = await stores.embedder.embed(page.map((chunk) => chunk.content));
    const records: VectorRecord[] = page.map((chunk, i) => ({
      chunkId: chunk.id,
      documentId: chunk.documentId,
      ownerId: chunk.userId,
      content: chunk.content,
      embedding: embeddings[i] as number[],
      metadata: { chunkIndex: chunk.chunkIndex, title: chunk.title },
    }));
    await stores.vectors.insert(records);
    total += records.length;
    progress.increment(records.length);
    after = page[page.length - 1];
  }
  progress.stop();
  return total;
}

/**
 * Documents the snapshot caught mid-ingestion are queued again (BullMQ on Redis). On the
 * embedded default the queue lives inside the node, whose storage reconciler queues them
 * once they are older than RECONCILE_GRACE_MS.
 */
async function requeueUnfinished(stores: Stores, config: Config, logger: Logger): Promise<number> {
  const ids = await stores.db.documents.stale('processing', 0, Number.MAX_SAFE_INTEGER);
  if (ids.length === 0 || config.redis.mode !== 'external') return 0;
  const queue = openIngestionQueue(config, logger);
  try {
    for (const id of ids) await queue.enqueue(id);
  } finally {
    await queue.close();
  }
  return ids.length;
}

/**
 * Fencing counters in Redis restart above PostgreSQL's records: each counter of a
 * recorded resource is dropped, and the next holder seeds it from `fencing_tokens`.
 */
async function reseedFences(stores: Stores): Promise<number> {
  const resources = await stores.db.fences.resources();
  for (const resource of resources) await stores.locks.forget(resource);
  return resources.length;
}
