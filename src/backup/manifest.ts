import { z } from 'zod';

/** Version of the backup layout; a restore refuses other versions. */
export const BACKUP_FORMAT_VERSION = 1;

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

/** `manifest.json` of one backup. */
export const manifestSchema = z
  .object({
    formatVersion: z.literal(BACKUP_FORMAT_VERSION),
    id: z.string().regex(/^vh-\d{8}T\d{6}Z(-[a-z0-9]{4})?$/),
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

export type Manifest = z.output<typeof manifestSchema>;
export type ManifestFile = z.output<typeof file>;

/** Why Redis is not in a backup: everything in it is rebuilt from the other stores or short-lived. */
export const REDIS_REASON =
  'Redis holds caches (rebuilt from PostgreSQL), rate-limit windows and presence (seconds to minutes), open-stream ' +
  'buffers (a restore interrupts any open stream), the ingestion queue (unfinished documents are queued again on ' +
  'restore) and fencing counters (re-seeded above the tokens PostgreSQL recorded): nothing that must survive.';
