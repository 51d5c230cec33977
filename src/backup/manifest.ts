import { z } from 'zod';

/**
 * Version of the backup layout this server writes. Format 2 carries `mac` (HMAC-SHA256 of
 * the canonical manifest when encrypted, a SHA-256 otherwise) and binds every encrypted
 * file to its name and backup id; format 1 (legacy) had neither and is read as
 * unauthenticated. Other versions are refused.
 */
export const BACKUP_FORMAT_VERSION = 2;
/** The format written before manifests were authenticated. */
export const LEGACY_FORMAT_VERSION = 1;

/** A backup id: `vh-` and the UTC second it was started, with a suffix when two started in one second. */
export const BACKUP_ID = /^vh-(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z(-[a-z0-9]{4})?$/;

/** The id of a backup started at `at` (without the suffix a second one in that second gets). */
export function backupId(at: Date): string {
  return `vh-${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}`;
}

/** The time a backup id names (ms since the epoch), or undefined for what is not a backup id. */
export function backupIdTime(id: string): number | undefined {
  const stamp = BACKUP_ID.exec(id);
  if (stamp === null) return undefined;
  const [y, mo, d, h, mi, s] = stamp.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  return Date.UTC(y, mo - 1, d, h, mi, s);
}

/**
 * The bytes a manifest's `mac` covers: the manifest without `mac`, as JSON with every
 * object's keys sorted (by UTF-16 code units, as `Array.prototype.sort` does), no
 * whitespace, and values written as `JSON.stringify` writes them. Computed on the parsed
 * JSON, so the layout of the file (indentation, key order) does not matter.
 */
export function canonicalManifest(manifest: object): Buffer {
  const { mac: _mac, ...rest } = manifest as Record<string, unknown>;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record)
      .sort()
      .filter((key) => record[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`);
    return `{${members.join(',')}}`;
  }
  return JSON.stringify(value);
}

const file = z
  .object({
    name: z.string().min(1).max(600),
    bytes: z.number().int().min(0),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** Objects only: what the store keeps beside the bytes. */
    contentType: z.string().max(200).optional(),
    metadata: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const table = z
  .object({ columns: z.array(z.string().min(1)).min(1), rows: z.number().int().min(0), file: z.string() })
  .strict();

/** What every format of `manifest.json` holds. */
const manifestBody = z
  .object({
    id: z.string().regex(BACKUP_ID),
    serverVersion: z.string(),
    /** Highest migration applied when the snapshot was taken. */
    migration: z.number().int().min(1),
    createdAt: z.string(),
    finishedAt: z.string(),
    encryption: z
      .object({ cipher: z.literal('aes-256-gcm'), kdf: z.literal('scrypt'), salt: z.string() })
      .strict()
      .nullable(),
    /** Where each store's data came from. */
    sources: z
      .object({
        postgres: z.enum(['external', 'embedded']),
        objects: z.enum(['s3', 'fs']),
        vector: z.enum(['milvus', 'embedded']),
        graph: z.enum(['neo4j', 'embedded']),
        redis: z.enum(['external', 'memory']),
      })
      .strict(),
    parts: z
      .object({
        postgres: z
          .object({
            method: z.literal('copy-repeatable-read'),
            tables: z.record(z.string(), table),
            bytes: z.number().int().min(0),
          })
          .strict(),
        objects: z
          .object({ count: z.number().int().min(0), bytes: z.number().int().min(0), missing: z.array(z.string()) })
          .strict(),
        /** Neo4j's nodes and relationships; null when the graph lives in PostgreSQL tables (in the snapshot). */
        graph: z
          .object({ nodes: z.number().int().min(0), relationships: z.number().int().min(0), file: z.string() })
          .strict()
          .nullable(),
        /** Vectors are rebuilt on restore from the chunks in the snapshot (see docs/operations.md). */
        vectors: z.object({ strategy: z.literal('rebuild-from-chunks'), chunks: z.number().int().min(0) }).strict(),
        /** What of Redis the backup holds (nothing) and why. */
        redis: z.object({ captured: z.array(z.string()), reason: z.string() }).strict(),
      })
      .strict(),
    /** Every file of the backup but the manifest, with its size and SHA-256 as stored. */
    files: z.array(file),
  })
  .strict();

/** `manifest.json` of one backup, as this server writes it. */
export const manifestSchema = manifestBody.extend({
  formatVersion: z.literal(BACKUP_FORMAT_VERSION),
  /** Of the canonical manifest (`canonicalManifest`): HMAC-SHA256 when encrypted, else a bare SHA-256. */
  mac: z.object({ alg: z.enum(['hmac-sha256', 'sha256']), value: z.string().regex(/^[0-9a-f]{64}$/) }).strict(),
});

/** `manifest.json` of format 1 (no `mac`). */
export const legacyManifestSchema = manifestBody.extend({ formatVersion: z.literal(LEGACY_FORMAT_VERSION) });

export type Manifest = z.output<typeof manifestSchema>;
export type LegacyManifest = z.output<typeof legacyManifestSchema>;
/** A manifest as read from a location: this format, or the legacy one. */
export type StoredManifest = Manifest | LegacyManifest;
export type ManifestFile = z.output<typeof file>;

/** Why Redis is not in a backup: everything in it is rebuilt from the other stores or short-lived. */
export const REDIS_REASON =
  'Redis holds caches (rebuilt from PostgreSQL), rate-limit windows and presence (seconds to minutes), open-stream ' +
  'buffers (a restore interrupts any open stream), the ingestion queue (unfinished documents are queued again on ' +
  'restore) and fencing counters (re-seeded above the tokens PostgreSQL recorded): nothing that must survive.';
