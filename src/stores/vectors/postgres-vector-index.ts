import { existsSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Logger } from '../../logger.js';
import { channels } from '../names.js';
import { abandon, withTransaction } from '../postgres/transaction.js';
import type { PubSub } from '../pubsub/pubsub.js';
import { MemoryVectorIndex } from './memory-vector-index.js';
import {
  assertEmbedding,
  assertVectorId,
  type VectorHit,
  type VectorIndex,
  type VectorRecord,
  type VectorSearchOptions,
} from './vector-index.js';

/** Options of the PostgreSQL vector index. */
export interface PostgresVectorIndexOptions {
  collection: string;
  dimension: number;
  /**
   * A directory that may hold a snapshot of the in-process index of earlier versions
   * (`<collection>.json`): imported once into an empty collection, then renamed.
   */
  legacySnapshotDir?: string;
}

interface ChunkRow {
  chunk_id: string;
  document_id: string;
  owner_id: string;
  content: string;
  embedding: Buffer;
  metadata: Record<string, unknown>;
}

interface ChangeRow {
  id: string;
  document_id: string;
  chunk_ids: string[] | null;
}

const PAGE = 2_000;
/** Changes kept in the log per collection; a node further behind reloads everything. */
const KEPT_CHANGES = 100_000;
const channel = channels.vectors;

function toBytes(embedding: readonly number[]): Buffer {
  return Buffer.from(Float32Array.from(embedding).buffer);
}

function fromBytes(bytes: Buffer): number[] {
  // Copied: a Buffer from pg need not be aligned for a Float32Array view.
  return Array.from(new Float32Array(new Uint8Array(bytes).buffer));
}

/**
 * Chunk embeddings kept in PostgreSQL, for clusters (and single nodes) without Milvus: the
 * table `vector_chunks` is the shared truth and every node searches its own in-memory copy
 * (exact COSINE, SIMD; `MemoryVectorIndex`). Each write appends what it touched to
 * `vector_changes` and announces it over pub/sub; a node applies the log in id order when
 * told, and before every search it applies whatever it has not seen yet, so a chunk written
 * on any node is found by the next search on every node. Memory per node grows with the
 * collection (4 bytes per dimension per chunk, plus its text).
 */
export class PostgresVectorIndex implements VectorIndex {
  readonly dimension: number;
  private readonly memory: MemoryVectorIndex;
  private readonly collection: string;
  /** Highest change applied to the in-memory copy. */
  private applied = 0;
  private loaded = false;
  private syncing: Promise<void> | undefined;
  /** The run that follows the one under way, for callers that came during it. */
  private queued: Promise<void> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private writes = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly pubsub: PubSub,
    private readonly logger: Logger,
    private readonly options: PostgresVectorIndexOptions,
  ) {
    this.dimension = options.dimension;
    this.collection = options.collection;
    this.memory = new MemoryVectorIndex({
      dir: undefined,
      collection: options.collection,
      dimension: options.dimension,
    });
  }

  async init(): Promise<void> {
    if (this.loaded) return;
    const stored = await this.pool.query<{ bytes: number }>(
      'select octet_length(embedding) as bytes from vector_chunks where collection = $1 limit 1',
      [this.collection],
    );
    const bytes = stored.rows[0]?.bytes;
    if (bytes !== undefined && bytes !== this.dimension * 4) {
      throw new Error(
        `the vector collection ${this.collection} in PostgreSQL has dimension ${bytes / 4} but EMBEDDING_DIM is ${this.dimension}`,
      );
    }
    if (bytes === undefined) await this.importLegacySnapshot();
    this.unsubscribe ??= await this.pubsub.subscribe(channel(this.collection), () => {
      this.sync().catch((error: unknown) =>
        this.logger.warn({ err: error }, 'following vector changes failed; the next search retries'),
      );
    });
    await this.reload();
    this.loaded = true;
  }

  async insert(records: readonly VectorRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const record of records) {
      assertVectorId(record.chunkId, 'chunkId');
      assertVectorId(record.documentId, 'documentId');
      assertVectorId(record.ownerId, 'ownerId');
      assertEmbedding(record.embedding, this.dimension);
    }
    await withTransaction(this.pool, async (client) => {
      await client.query(
        `insert into vector_chunks (collection, chunk_id, document_id, owner_id, content, embedding, metadata)
         select $1, * from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::jsonb[])
         on conflict (collection, chunk_id) do update set document_id = excluded.document_id, owner_id = excluded.owner_id,
           content = excluded.content, embedding = excluded.embedding, metadata = excluded.metadata`,
        [
          this.collection,
          records.map((r) => r.chunkId),
          records.map((r) => r.documentId),
          records.map((r) => r.ownerId),
          records.map((r) => r.content),
          records.map((r) => toBytes(r.embedding)),
          records.map((r) => JSON.stringify(r.metadata ?? {})),
        ],
      );
      const byDocument = new Map<string, string[]>();
      for (const r of records) byDocument.set(r.documentId, [...(byDocument.get(r.documentId) ?? []), r.chunkId]);
      await this.logChanges(
        client,
        [...byDocument].map(([documentId, chunkIds]) => ({ documentId, chunkIds })),
      );
    });
    await this.announce();
  }

  async search(embedding: readonly number[], options: VectorSearchOptions): Promise<VectorHit[]> {
    assertEmbedding(embedding, this.dimension);
    await this.sync();
    return this.memory.search(embedding, options);
  }

  async countByDocument(documentId: string): Promise<number> {
    assertVectorId(documentId, 'documentId');
    const result = await this.pool.query<{ n: number }>(
      'select count(*)::int as n from vector_chunks where collection = $1 and document_id = $2',
      [this.collection, documentId],
    );
    return result.rows[0]?.n ?? 0;
  }

  async deleteByDocument(documentId: string): Promise<void> {
    assertVectorId(documentId, 'documentId');
    await withTransaction(this.pool, async (client) => {
      await client.query('delete from vector_chunks where collection = $1 and document_id = $2', [
        this.collection,
        documentId,
      ]);
      await this.logChanges(client, [{ documentId, chunkIds: null }]);
    });
    await this.announce();
  }

  async drop(): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await client.query('delete from vector_chunks where collection = $1', [this.collection]);
      await client.query('delete from vector_changes where collection = $1', [this.collection]);
    });
    await this.memory.drop();
    this.applied = 0;
  }

  async ping(): Promise<void> {
    await this.pool.query('select 1');
  }

  async close(): Promise<void> {
    await this.unsubscribe?.().catch(() => undefined);
    this.unsubscribe = undefined;
  }

  /**
   * Appends to the change log under the collection's lock, held until commit, so that
   * change ids become visible in the order they were given out (a reader never skips one).
   */
  private async logChanges(
    client: pg.PoolClient,
    changes: { documentId: string; chunkIds: string[] | null }[],
  ): Promise<void> {
    // Chunk ids travel comma-joined (a ragged text[][] cannot be unnested): assertVectorId
    // allows no comma in them.
    await client.query('select pg_advisory_xact_lock(hashtext($1))', [`vector_changes:${this.collection}`]);
    const result = await client.query<{ id: string }>(
      `insert into vector_changes (collection, document_id, chunk_ids)
       select $1, d, case when c = '' then null else string_to_array(c, ',') end
         from unnest($2::text[], $3::text[]) as u(d, c)
       returning id`,
      [
        this.collection,
        changes.map((c) => c.documentId),
        changes.map((c) => (c.chunkIds === null ? '' : c.chunkIds.join(','))),
      ],
    );
    this.writes++;
    if (this.writes % 500 === 0) {
      const newest = Math.max(...result.rows.map((r) => Number(r.id)));
      await client.query('delete from vector_changes where collection = $1 and id < $2', [
        this.collection,
        newest - KEPT_CHANGES,
      ]);
    }
  }

  private async announce(): Promise<void> {
    // The writer's own copy first, so its next search needs no round trip; then the others.
    await this.sync();
    await this.pubsub.publish(channel(this.collection), '1').catch(() => undefined);
  }

  /**
   * Applies every change not applied yet, in order. A run under way may have read the log
   * before the change its new caller waits for (an announcement, or a search after another
   * node's write), so callers that come during a run share the one run after it.
   */
  private sync(): Promise<void> {
    if (!this.loaded) return Promise.resolve();
    if (this.syncing !== undefined) {
      this.queued ??= this.syncing
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          return this.sync();
        });
      return this.queued;
    }
    const run = this.applyChanges().finally(() => {
      if (this.syncing === run) this.syncing = undefined;
    });
    this.syncing = run;
    return run;
  }

  private async applyChanges(): Promise<void> {
    for (;;) {
      const result = await this.pool.query<ChangeRow & { oldest: string }>(
        `select id, document_id, chunk_ids, (select min(id) from vector_changes where collection = $1) as oldest
           from vector_changes where collection = $1 and id > $2 order by id limit $3`,
        [this.collection, this.applied, PAGE],
      );
      const changes = result.rows;
      if (changes.length === 0) return;
      if (Number(changes[0]?.oldest) > this.applied + 1) {
        // Pruned past what this node has seen: start again from the table.
        this.logger.warn(
          { collection: this.collection },
          'fell behind the vector change log; reloading the collection',
        );
        await this.reload();
        continue;
      }
      // Consecutive writes are fetched together; a removal is applied where it stands.
      let pending: string[] = [];
      const flush = async () => {
        if (pending.length > 0) await this.loadChunks(pending);
        pending = [];
      };
      for (const change of changes) {
        if (change.chunk_ids === null) {
          await flush();
          await this.memory.deleteByDocument(change.document_id);
        } else pending.push(...change.chunk_ids);
      }
      await flush();
      this.applied = Number(changes[changes.length - 1]?.id);
      if (changes.length < PAGE) return;
    }
  }

  /** Puts these chunks as the table has them now (removing those it no longer has). */
  private async loadChunks(chunkIds: string[]): Promise<void> {
    const result = await this.pool.query<ChunkRow>(
      'select chunk_id, document_id, owner_id, content, embedding, metadata from vector_chunks where collection = $1 and chunk_id = any($2::text[])',
      [this.collection, chunkIds],
    );
    const found = new Set(result.rows.map((r) => r.chunk_id));
    await this.memory.deleteChunks(chunkIds.filter((id) => !found.has(id)));
    await this.memory.insert(result.rows.map(toRecord));
  }

  /** Loads the whole collection from one consistent snapshot, with the change id it includes. */
  private async reload(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('begin isolation level repeatable read read only');
      const newest = await client.query<{ id: string | null }>(
        'select max(id) as id from vector_changes where collection = $1',
        [this.collection],
      );
      await this.memory.drop();
      let after = '';
      for (;;) {
        const page = await client.query<ChunkRow>(
          `select chunk_id, document_id, owner_id, content, embedding, metadata from vector_chunks
            where collection = $1 and chunk_id > $2 order by chunk_id limit $3`,
          [this.collection, after, PAGE],
        );
        await this.memory.insert(page.rows.map(toRecord));
        if (page.rows.length < PAGE) break;
        after = page.rows[page.rows.length - 1]?.chunk_id ?? after;
      }
      await client.query('commit');
      this.applied = Number(newest.rows[0]?.id ?? 0);
      client.release();
    } catch (error) {
      await abandon(client, error);
      throw error;
    }
  }

  /** Moves the snapshot of the former in-process index (single node) into the table, once. */
  private async importLegacySnapshot(): Promise<void> {
    const dir = this.options.legacySnapshotDir;
    if (dir === undefined) return;
    const file = path.join(dir, `${this.collection}.json`);
    if (!existsSync(file)) return;
    const legacy = new MemoryVectorIndex({ dir, collection: this.collection, dimension: this.dimension });
    await legacy.init();
    const records = legacy.records();
    for (let i = 0; i < records.length; i += PAGE) await this.insertRaw(records.slice(i, i + PAGE));
    await rename(file, `${file}.imported`);
    this.logger.info({ chunks: records.length, file }, 'imported the former in-process vector index into PostgreSQL');
  }

  private async insertRaw(records: VectorRecord[]): Promise<void> {
    const wasLoaded = this.loaded;
    this.loaded = false; // no sync before the first load
    try {
      await this.insert(records);
    } finally {
      this.loaded = wasLoaded;
    }
  }
}

function toRecord(row: ChunkRow): VectorRecord {
  return {
    chunkId: row.chunk_id,
    documentId: row.document_id,
    ownerId: row.owner_id,
    content: row.content,
    embedding: fromBytes(row.embedding),
    metadata: row.metadata,
  };
}
