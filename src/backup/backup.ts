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
import { type BackupKeys, deriveKeys, manifestMac, newEncryption, sameMac } from './crypto.js';
import { BackupRefused } from './errors.js';
import { BackupReader, BackupWriter } from './files.js';
import {
  BACKUP_FORMAT_VERSION,
  BACKUP_ID,
  backupId,
  backupIdTime,
  canonicalManifest,
  LEGACY_FORMAT_VERSION,
  legacyManifestSchema,
  type Manifest,
  type ManifestFile,
  manifestSchema,
  REDIS_REASON,
  type StoredManifest,
} from './manifest.js';
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
/**
 * How far past the reader's clock a backup id may lie and still count (the clocks of the
 * nodes that write and read backups differ a little). Beyond it, the scheduler and prune
 * ignore the backup: a node never writes one dated in the future.
 */
export const CLOCK_SKEW_MS = 5 * 60_000;

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
    const keys =
      encryption === null
        ? undefined
        : await deriveKeys(options.encryptionKey as string, encryption, BACKUP_FORMAT_VERSION);
    const writer = new BackupWriter(location, id, keys);

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

    const unsealed: Omit<Manifest, 'mac'> = {
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
    // Sealed as it will be read back: the parsed JSON (no undefined members) in canonical form.
    const mac = manifestMac(canonicalManifest(JSON.parse(JSON.stringify(unsealed)) as object), keys?.manifest);
    const manifest: Manifest = { ...unsealed, mac };
    await writer.writeManifest(manifest);
    return manifest;
  });
  if (held === undefined) throw new BackupRefused('another backup is running (the backup lock is held)');
  return held.result;
}

/**
 * How far a manifest is known to come from whoever holds BACKUP_ENCRYPTION_KEY:
 * - `authenticated`: encrypted, and its HMAC-SHA256 checks under the key;
 * - `checksum-only`: not encrypted; its SHA-256 shows it is whole, but anyone who can
 *   write the location can recompute that;
 * - `legacy`: format 1, written before manifests carried a mac: nothing checks it;
 * - `unchecked`: encrypted, read without BACKUP_ENCRYPTION_KEY, so its HMAC was not checked.
 */
export type Authentication = 'authenticated' | 'checksum-only' | 'legacy' | 'unchecked';

/** A manifest read from a location, with how far it is authenticated and the keys of its files. */
export interface CheckedManifest {
  manifest: StoredManifest;
  authentication: Authentication;
  /** The backup's keys, when it is encrypted and BACKUP_ENCRYPTION_KEY was given. */
  keys: BackupKeys | undefined;
}

function refuseIssue(id: string, error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): never {
  const issue = error.issues[0];
  throw new BackupRefused(
    `${id}: manifest.json is not a valid manifest (${issue?.path.map(String).join('.') ?? ''}: ${issue?.message ?? ''})`,
  );
}

/**
 * The manifest of the backup `id` of a location, checked: its schema (format 2, or the
 * legacy format 1), that it names this backup and the time its id says, and its mac (the
 * HMAC under the key derived from `secret` when encrypted, the checksum when not).
 * BackupRefused when it is missing, damaged, renamed or does not authenticate; whether this
 * configuration may use it is `refusal` and `unauthenticatedReason`.
 */
export async function readManifest(
  location: BackupLocation,
  id: string,
  secret: string | undefined,
): Promise<CheckedManifest> {
  const text = await new BackupReader(location, id, undefined).manifestText();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new BackupRefused(`${id}: manifest.json is not JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new BackupRefused(`${id}: manifest.json is not a valid manifest (not an object)`);
  const version = (parsed as { formatVersion?: unknown }).formatVersion;
  if (version !== BACKUP_FORMAT_VERSION && version !== LEGACY_FORMAT_VERSION)
    throw new BackupRefused(
      `${id}: manifest.json is of a format this server does not read (formatVersion ${JSON.stringify(version)}; it reads ${LEGACY_FORMAT_VERSION} and ${BACKUP_FORMAT_VERSION})`,
    );
  let manifest: StoredManifest;
  if (version === BACKUP_FORMAT_VERSION) {
    const result = manifestSchema.safeParse(parsed);
    if (!result.success) refuseIssue(id, result.error);
    manifest = result.data;
  } else {
    const result = legacyManifestSchema.safeParse(parsed);
    if (!result.success) refuseIssue(id, result.error);
    manifest = result.data;
  }
  // A backup is known by where it lies: a manifest read under another id is a renamed (replayed) backup.
  if (manifest.id !== id) throw new BackupRefused(`${id}: manifest.json names another backup (${manifest.id})`);
  const created = Date.parse(manifest.createdAt);
  if (Number.isNaN(created) || backupId(new Date(created)) !== id.slice(0, 'vh-YYYYMMDDTHHMMSSZ'.length))
    throw new BackupRefused(`${id}: manifest.json says it was created at ${manifest.createdAt}, not when its id says`);
  const names = new Set<string>();
  for (const file of manifest.files) {
    if (names.has(file.name)) throw new BackupRefused(`${id}: manifest.json lists ${file.name} twice`);
    names.add(file.name);
  }
  for (const table of Object.values(manifest.parts.postgres.tables)) {
    if (!names.has(table.file)) throw new BackupRefused(`${id}: manifest.json lists no file for ${table.file}`);
  }

  const format = manifest.formatVersion;
  if (manifest.encryption === null) {
    if (manifest.formatVersion === LEGACY_FORMAT_VERSION)
      return { manifest, authentication: 'legacy', keys: undefined };
    if (manifest.mac.alg !== 'sha256')
      throw new BackupRefused(`${id}: manifest.json carries an HMAC but the backup is not encrypted`);
    if (!sameMac(manifest.mac, manifestMac(canonicalManifest(parsed), undefined)))
      throw new BackupRefused(`${id}: manifest.json does not match its checksum (damaged, or edited)`);
    return { manifest, authentication: 'checksum-only', keys: undefined };
  }
  if (secret === undefined || secret === '') return { manifest, authentication: 'unchecked', keys: undefined };
  const keys = await deriveKeys(secret, manifest.encryption, format);
  if (manifest.formatVersion === LEGACY_FORMAT_VERSION) return { manifest, authentication: 'legacy', keys };
  if (
    manifest.mac.alg !== 'hmac-sha256' ||
    !sameMac(manifest.mac, manifestMac(canonicalManifest(parsed), keys.manifest))
  )
    throw new BackupRefused(
      `${id}: manifest.json does not authenticate (wrong BACKUP_ENCRYPTION_KEY, or the manifest was changed)`,
    );
  return { manifest, authentication: 'authenticated', keys };
}

/**
 * Why this configuration must not use a backup, whatever the operator accepts, or
 * undefined: an encrypted backup without BACKUP_ENCRYPTION_KEY, and, with the key set, a
 * backup that is not encrypted (anyone who can write the location can make one).
 */
export function refusal(checked: CheckedManifest, secret: string | undefined): string | undefined {
  if (checked.authentication === 'unchecked') return 'the backup is encrypted: set BACKUP_ENCRYPTION_KEY';
  if (secret !== undefined && secret !== '' && checked.manifest.encryption === null)
    return (
      'the backup is not encrypted, so nothing proves who wrote it, and with BACKUP_ENCRYPTION_KEY set only ' +
      'encrypted backups whose manifest authenticates are accepted'
    );
  return undefined;
}

/**
 * Why a backup this configuration may use is unauthenticated (what `--allow-unauthenticated`
 * accepts), or undefined when its manifest authenticates.
 */
export function unauthenticatedReason(checked: CheckedManifest): string | undefined {
  if (checked.authentication === 'checksum-only')
    return 'it is not encrypted, and anyone who can write the backup location can recompute the checksum of its manifest';
  if (checked.authentication === 'legacy')
    return 'it is of format 1 (legacy), written before manifests were authenticated and files bound to their names';
  return undefined;
}

/**
 * Why the scheduler and prune must not count a backup as one of theirs, or undefined: it
 * verifies when its manifest authenticates under the key (or, with no key configured,
 * matches its checksum). Legacy and unchecked manifests do not.
 */
export function untrusted(checked: CheckedManifest, secret: string | undefined): string | undefined {
  const refused = refusal(checked, secret);
  if (refused !== undefined) return refused;
  return checked.authentication === 'legacy' ? 'format 1 (legacy): nothing checks its manifest' : undefined;
}

/**
 * Reads the manifest and every file of a backup to its end and checks each file against the
 * manifest (size, SHA-256, and for an encrypted backup its authentication tag, which binds
 * it to its name and this backup): BackupRefused naming the first file that fails. Refused
 * before any file is read: what `refusal` names, and an unauthenticated backup unless
 * `allowUnauthenticated`.
 */
export async function verifyBackup(
  location: BackupLocation,
  id: string,
  options: { encryptionKey: string | undefined; allowUnauthenticated: boolean },
  hooks: Pick<BackupHooks, 'progress'>,
): Promise<CheckedManifest> {
  const checked = await readManifest(location, id, options.encryptionKey);
  const refused = refusal(checked, options.encryptionKey);
  if (refused !== undefined) throw new BackupRefused(`${id}: ${refused}`);
  const loose = unauthenticatedReason(checked);
  if (loose !== undefined && !options.allowUnauthenticated)
    throw new BackupRefused(
      `${id}: the backup is unauthenticated: ${loose}. Restore it only if you know where it came from, with --allow-unauthenticated`,
    );
  const { manifest } = checked;
  const reader = new BackupReader(location, id, checked.keys);
  const progress = hooks.progress('verifying files', manifest.files.length);
  try {
    for (const file of manifest.files) {
      await reader.check(file);
      progress.increment();
    }
  } finally {
    progress.stop();
  }
  return checked;
}

/** One backup as `backup list` shows it. */
export interface BackupSummary {
  id: string;
  createdAt: string | null;
  migration: number | null;
  files: number | null;
  bytes: number | null;
  encrypted: boolean | null;
  /** Its manifest's HMAC checked under BACKUP_ENCRYPTION_KEY (false: nothing to check it with; null: not checked). */
  authenticated: boolean | null;
  /**
   * `ok` (the manifest checks: its HMAC, or its checksum), `legacy` (format 1, nothing to
   * check), `unchecked` (encrypted, and no BACKUP_ENCRYPTION_KEY), or why the manifest could
   * not be read (an unfinished, damaged or renamed backup).
   */
  state: string;
}

/** The ids of the backups a location holds (finished or not), oldest first. */
export async function listBackupIds(location: BackupLocation): Promise<string[]> {
  const ids = new Set<string>();
  for (const object of await location.store.list(location.base)) {
    const id = object.key.slice(location.base.length).split('/')[0] ?? '';
    if (BACKUP_ID.test(id)) ids.add(id);
  }
  return [...ids].sort();
}

/** The backups of a location, oldest first, each manifest checked with `secret` when given. */
export async function listBackups(location: BackupLocation, secret: string | undefined): Promise<BackupSummary[]> {
  const summaries: BackupSummary[] = [];
  for (const id of await listBackupIds(location)) {
    try {
      const { manifest, authentication } = await readManifest(location, id, secret);
      summaries.push({
        id,
        createdAt: manifest.createdAt,
        migration: manifest.migration,
        files: manifest.files.length,
        bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
        encrypted: manifest.encryption !== null,
        authenticated: authentication === 'unchecked' ? null : authentication === 'authenticated',
        state: authentication === 'legacy' || authentication === 'unchecked' ? authentication : 'ok',
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
        authenticated: null,
        state: error.message.replace(`${id}: `, ''),
      });
    }
  }
  return summaries;
}

/** A backup that prune or the scheduler left alone, and why. */
export interface SkippedBackup {
  id: string;
  reason: string;
}

/**
 * Why the backup `id` is not one the scheduler and prune may act on, or undefined: dated
 * more than CLOCK_SKEW_MS after `now`, or its manifest does not verify (`untrusted`, or
 * missing, damaged, renamed).
 */
export async function distrust(
  location: BackupLocation,
  id: string,
  secret: string | undefined,
  now: Date,
): Promise<string | undefined> {
  if ((backupIdTime(id) as number) > now.getTime() + CLOCK_SKEW_MS)
    return `dated in the future (more than ${CLOCK_SKEW_MS / 60_000} minutes ahead of this clock)`;
  try {
    return untrusted(await readManifest(location, id, secret), secret);
  } catch (error) {
    if (error instanceof BackupRefused) return error.message.replace(`${id}: `, '');
    throw error;
  }
}

/**
 * Removes backups older than `keepDays` (by the time in their id) whose manifest verifies
 * under this configuration (`distrust`). Backups it cannot trust are left alone and
 * reported, as are ids dated in the future (which no retention would ever reach).
 */
export async function pruneBackups(
  location: BackupLocation,
  keepDays: number,
  options: { encryptionKey: string | undefined; now?: Date },
): Promise<{ removed: string[]; skipped: SkippedBackup[] }> {
  const now = options.now ?? new Date();
  const cutoff = now.getTime() - keepDays * 24 * 60 * 60 * 1000;
  const removed: string[] = [];
  const skipped: SkippedBackup[] = [];
  for (const id of await listBackupIds(location)) {
    const at = backupIdTime(id) as number;
    if (at >= cutoff && at <= now.getTime() + CLOCK_SKEW_MS) continue;
    const reason = await distrust(location, id, options.encryptionKey, now);
    if (reason !== undefined) {
      skipped.push({ id, reason });
      continue;
    }
    // The manifest goes first: a prune that stops halfway leaves an unfinished backup, never one that looks whole.
    await location.store.delete(`${location.base}${id}/manifest.json`);
    for (const object of await location.store.list(`${location.base}${id}/`)) await location.store.delete(object.key);
    removed.push(id);
  }
  return { removed, skipped };
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
 * Restores a backup into empty stores. The manifest must authenticate (or the operator
 * accepts an unauthenticated one with `allowUnauthenticated`), every file is checked first
 * (checksums, and authentication when encrypted), and every target store must be empty, so
 * that a forged or damaged backup or a wrong target changes nothing. Then: the schema is migrated to the backup's
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
  options: { encryptionKey: string | undefined; allowUnauthenticated: boolean },
  hooks: BackupHooks,
): Promise<RestoreReport> {
  const checked = await verifyBackup(location, id, options, hooks);
  const { manifest, authentication } = checked;
  if (authentication !== 'authenticated')
    hooks.logger.warn({ backup: id, authentication }, 'restoring an unauthenticated backup (--allow-unauthenticated)');
  const reader = new BackupReader(location, id, checked.keys);
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
        details: { migration: manifest.migration, vectors, requeued, authentication },
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
