import type pg from 'pg';
import type { z } from 'zod';
import { type DocumentFailureReason, documentFailureReasons } from '../../../../protocol/events.js';
import type { documentModel } from '../../../../protocol/http.js';
import { AppError } from '../../../errors/app-error.js';
import { acceptFencingToken, forgetFencingToken } from '../../locks/fencing.js';
import { isUuid } from '../../messages/validate-message.js';
import { cursorAt, decodeCursor, encodeCursor } from '../cursor.js';
import { withTransaction } from '../transaction.js';

/** `deleting`: a tombstone, invisible to every read, removed from every store by its deleter or the reconciler. */
export type DocumentStatus = DocumentRecord['status'];

/** A document's metadata row (the file itself lives in object storage), as the HTTP API returns it. */
export type DocumentRecord = z.output<typeof documentModel>;

/** One chunk of a document's text. */
export interface ChunkRecord {
  id: string;
  documentId: string;
  chunkIndex: number;
  content: string;
  tokenCount: number | null;
  metadata: Record<string, unknown>;
}

interface DocumentRow {
  id: string;
  user_id: string;
  title: string;
  metadata: Record<string, unknown>;
  status: DocumentStatus;
  status_reason: string | null;
  file_path: string | null;
  file_size: string | null;
  mime_type: string | null;
  chunk_count: number;
  created_at: Date;
  updated_at: Date;
}

const COLUMNS =
  'id, user_id, title, metadata, status, status_reason, file_path, file_size, mime_type, chunk_count, created_at, updated_at';

interface ChunkRow {
  id: string;
  document_id: string;
  chunk_index: number;
  content: string;
  token_count: number | null;
  metadata: Record<string, unknown>;
}

const CHUNK_COLUMNS = 'id, document_id, chunk_index, content, token_count, metadata';

function toChunk(r: ChunkRow): ChunkRecord {
  return {
    id: r.id,
    documentId: r.document_id,
    chunkIndex: r.chunk_index,
    content: r.content,
    tokenCount: r.token_count,
    metadata: r.metadata,
  };
}

const FAILURE_REASONS = new Set<string>(Object.values(documentFailureReasons));

/**
 * The stored reason as owners may read it: one of the fixed sentences. Before v5 the
 * reason was the failure's own text (a driver's, naming hosts), and such rows remain.
 */
function failureReason(stored: string | null): DocumentFailureReason | null {
  if (stored === null) return null;
  return FAILURE_REASONS.has(stored) ? (stored as DocumentFailureReason) : documentFailureReasons.failed;
}

function toDocument(row: DocumentRow): DocumentRecord {
  return {
    id: row.id,
    userId: row.user_id,
    title: row.title,
    metadata: row.metadata,
    status: row.status,
    statusReason: failureReason(row.status_reason),
    filePath: row.file_path,
    fileSize: row.file_size === null ? null : Number(row.file_size),
    mimeType: row.mime_type,
    chunkCount: row.chunk_count,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Documents and their chunks (tables `documents`, `document_chunks`). */
export class DocumentRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(input: {
    id?: string;
    userId: string;
    title: string;
    metadata?: Record<string, unknown>;
    filePath: string | null;
    fileSize: number | null;
    mimeType: string | null;
  }): Promise<DocumentRecord> {
    const result = await this.pool.query<DocumentRow>(
      `insert into documents (id, user_id, title, metadata, file_path, file_size, mime_type)
       values (coalesce($1::uuid, gen_random_uuid()), $2, $3, $4, $5, $6, $7) returning ${COLUMNS}`,
      [
        input.id ?? null,
        input.userId,
        input.title,
        JSON.stringify(input.metadata ?? {}),
        input.filePath,
        input.fileSize,
        input.mimeType,
      ],
    );
    return toDocument(result.rows[0] as DocumentRow);
  }

  /** The document, tombstones included (check `status`). */
  async get(id: string): Promise<DocumentRecord | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.pool.query<DocumentRow>(`select ${COLUMNS} from documents where id = $1`, [id]);
    return result.rows[0] === undefined ? undefined : toDocument(result.rows[0]);
  }

  /** The document's status now (undefined once its row is gone). */
  async status(id: string): Promise<DocumentStatus | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.pool.query<{ status: DocumentStatus }>('select status from documents where id = $1', [
      id,
    ]);
    return result.rows[0]?.status;
  }

  /** Marks a document as being deleted; false when it is gone or already marked. */
  async markDeleting(id: string): Promise<boolean> {
    const result = await this.pool.query(
      "update documents set status = 'deleting', updated_at = now() where id = $1 and status <> 'deleting'",
      [id],
    );
    return (result.rowCount ?? 0) > 0;
  }

  /** Sets `failed` with a reason, unless the document left `processing` meanwhile (ready, or being deleted). */
  async markFailed(id: string, reason: DocumentFailureReason): Promise<void> {
    await this.pool.query(
      "update documents set status = 'failed', status_reason = $2, updated_at = now() where id = $1 and status = 'processing'",
      [id, reason],
    );
  }

  /** Ids of documents in `status` whose row has not changed for `olderThanMs`, oldest first. */
  async stale(status: 'processing' | 'deleting', olderThanMs: number, limit: number): Promise<string[]> {
    const result = await this.pool.query<{ id: string }>(
      `select id from documents where status = $1 and updated_at < now() - make_interval(secs => $2::float8 / 1000)
        order by updated_at limit $3`,
      [status, olderThanMs, limit],
    );
    return result.rows.map((r) => r.id);
  }

  /** Ids of up to `limit` documents of a user (tombstones included), in id order. */
  async idsOfUser(userId: string, limit: number): Promise<string[]> {
    const result = await this.pool.query<{ id: string }>(
      'select id from documents where user_id = $1 order by id limit $2',
      [userId, limit],
    );
    return result.rows.map((r) => r.id);
  }

  /** How many documents a user keeps and their bytes (tombstones not counted). */
  async usage(userId: string): Promise<{ documents: number; bytes: number }> {
    const result = await this.pool.query<{ documents: number; bytes: string }>(
      "select count(*)::int as documents, coalesce(sum(file_size), 0)::bigint as bytes from documents where user_id = $1 and status <> 'deleting'",
      [userId],
    );
    return { documents: result.rows[0]?.documents ?? 0, bytes: Number(result.rows[0]?.bytes ?? 0) };
  }

  /** Which of these ids have a row (tombstones included). */
  async existing(ids: readonly string[]): Promise<Set<string>> {
    const valid = ids.filter(isUuid);
    if (valid.length === 0) return new Set();
    const result = await this.pool.query<{ id: string }>('select id from documents where id = any($1::uuid[])', [
      valid,
    ]);
    return new Set(result.rows.map((r) => r.id));
  }

  async list(
    userId: string,
    options: { limit: number; cursor?: string },
  ): Promise<{ documents: DocumentRecord[]; nextCursor: string | null }> {
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const result = await this.pool.query<DocumentRow & { cursor_at: string }>(
      `select ${COLUMNS}, ${cursorAt('created_at')} as cursor_at from documents
        where user_id = $1 and status <> 'deleting' and ($2::timestamptz is null or (created_at, id) < ($2, $3::uuid))
        order by created_at desc, id desc limit $4`,
      [userId, after?.at ?? null, after?.id ?? null, options.limit + 1],
    );
    const rows = result.rows.slice(0, options.limit);
    const last = rows[rows.length - 1];
    return {
      documents: rows.map(toDocument),
      nextCursor:
        result.rows.length > options.limit && last !== undefined
          ? encodeCursor({ at: last.cursor_at, id: last.id })
          : null,
    };
  }

  async setStatus(id: string, status: DocumentStatus, reason: string | null = null): Promise<DocumentRecord> {
    const result = await this.pool.query<DocumentRow>(
      `update documents set status = $2, status_reason = $3, updated_at = now() where id = $1 returning ${COLUMNS}`,
      [id, status, reason],
    );
    if (result.rows[0] === undefined) throw new AppError('NOT_FOUND', { message: 'document not found' });
    return toDocument(result.rows[0]);
  }

  /**
   * Replaces every chunk of a document in one transaction and updates its chunk count.
   * CONFLICT when the document is no longer being ingested (deleted meanwhile).
   */
  async replaceChunks(
    documentId: string,
    chunks: readonly {
      content: string;
      chunkIndex: number;
      tokenCount: number | null;
      metadata?: Record<string, unknown>;
    }[],
  ): Promise<ChunkRecord[]> {
    return withTransaction(this.pool, async (client) => {
      const current = await client.query<{ status: DocumentStatus }>(
        'select status from documents where id = $1 for update',
        [documentId],
      );
      if (current.rows[0]?.status !== 'processing')
        throw AppError.because('document_not_ingesting', { message: 'the document is no longer being ingested' });
      await client.query('delete from document_chunks where document_id = $1', [documentId]);
      const result = await client.query<ChunkRow>(
        `insert into document_chunks (document_id, content, chunk_index, token_count, metadata)
         select $1, * from unnest($2::text[], $3::int[], $4::int[], $5::jsonb[])
         returning ${CHUNK_COLUMNS}`,
        [
          documentId,
          chunks.map((c) => c.content),
          chunks.map((c) => c.chunkIndex),
          chunks.map((c) => c.tokenCount),
          chunks.map((c) => JSON.stringify(c.metadata ?? {})),
        ],
      );
      await client.query('update documents set chunk_count = $2, updated_at = now() where id = $1', [
        documentId,
        chunks.length,
      ]);
      return result.rows.map(toChunk).sort((a, b) => a.chunkIndex - b.chunkIndex);
    });
  }

  /**
   * The next `limit` chunks of ready documents after `after` (in document and chunk order),
   * with their document's owner and title: what the vector index is built from.
   */
  async readyChunks(
    after: { documentId: string; chunkIndex: number } = {
      documentId: '00000000-0000-0000-0000-000000000000',
      chunkIndex: -1,
    },
    limit: number,
  ): Promise<(ChunkRecord & { userId: string; title: string })[]> {
    const result = await this.pool.query<ChunkRow & { user_id: string; title: string }>(
      `select c.id, c.document_id, c.chunk_index, c.content, c.token_count, c.metadata, d.user_id, d.title
         from document_chunks c join documents d on d.id = c.document_id
        where d.status = 'ready' and (c.document_id, c.chunk_index) > ($1::uuid, $2)
        order by c.document_id, c.chunk_index limit $3`,
      [after.documentId, after.chunkIndex, limit],
    );
    return result.rows.map((row) => ({ ...toChunk(row), userId: row.user_id, title: row.title }));
  }

  async chunks(documentId: string): Promise<ChunkRecord[]> {
    const result = await this.pool.query<ChunkRow>(
      `select ${CHUNK_COLUMNS} from document_chunks where document_id = $1 order by chunk_index`,
      [documentId],
    );
    return result.rows.map(toChunk);
  }

  /** Removes a document and (by cascade) its chunks; false when it did not exist. */
  async delete(id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const result = await this.pool.query('delete from documents where id = $1', [id]);
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * The end of an ingestion run holding the document's lock with `fencingToken`: the status
   * is written only while the document is still `processing`, and CONFLICT when a newer
   * holder already wrote (this one's lease ran out while it was paused).
   */
  async finishIngestion(
    id: string,
    fencingToken: number,
    status: 'ready' | 'failed',
    reason: DocumentFailureReason | null,
  ): Promise<void> {
    await withTransaction(this.pool, async (client) => {
      await acceptFencingToken(client, fencingResource(id), fencingToken);
      await client.query(
        'update documents set status = $2, status_reason = $3, updated_at = now() where id = $1 and status = $4',
        [id, status, reason, 'processing'],
      );
    });
  }

  /** Forgets the fencing record of a document gone for good. */
  async forgetFencing(id: string): Promise<void> {
    await forgetFencingToken(this.pool, fencingResource(id));
  }
}

/** The lock and fencing resource of a document's ingestion and deletion. */
export const fencingResource = (id: string) => `document:${id}`;
