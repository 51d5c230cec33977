import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type DocumentFailure,
  type DocumentFailureReason,
  type DocumentStage,
  type DocumentStatusEvent,
  documentFailureReasons,
} from '../../../protocol/events.js';
import { AppError, DependencyTimeoutError, hasReason } from '../../errors/app-error.js';
import type { Logger } from '../../logger.js';
import type { Embedder } from '../../stores/embeddings/embedder.js';
import type { ContainedEntity, GraphStore } from '../../stores/graph/graph-store.js';
import type { LockContext, LockManager } from '../../stores/locks/lock-manager.js';
import { type ObjectStore, OPAQUE_CONTENT_TYPE } from '../../stores/objects/object-store.js';
import type { AuditLog } from '../../stores/postgres/repositories/audit.js';
import type { DocumentRecord, DocumentRepository } from '../../stores/postgres/repositories/documents.js';
import type { JobQueue } from '../../stores/queue/job-queue.js';
import type { VectorIndex } from '../../stores/vectors/vector-index.js';
import { sleep, withDeadline } from '../../util/timeout.js';
import type { Caller } from '../session-service.js';
import type { DocumentParser } from './parsing.js';
import { type DocumentType, detectDocumentType, documentTypes } from './text.js';

/** What the document service needs. */
export interface DocumentServiceOptions {
  documents: DocumentRepository;
  objects: ObjectStore;
  vectors: VectorIndex;
  embedder: Embedder;
  graph: GraphStore;
  /** Text, chunks and graph data from a file (on a worker thread in the app). */
  parser: DocumentParser;
  locks: LockManager;
  queue: JobQueue;
  audit: AuditLog;
  logger: Logger;
  /** Largest upload in bytes. */
  maxBytes: number;
  /** Where uploads are spooled before they go to object storage. */
  tmpDir: string;
  /** Deadline of handing a document to the queue (a queue on a hung Redis would wait forever). */
  enqueueTimeoutMs: number;
  /** What one user may keep: documents and bytes. */
  quotas: { documents: number; bytes: number };
  /** Tells a document's owner where its ingestion is (`document:status`); never throws. */
  progress?: (ownerId: string, event: DocumentStatusEvent) => void;
}

/** One uploaded file as the HTTP layer hands it over. */
export interface Upload {
  stream: Readable;
  filename: string;
  mimetype: string | undefined;
  title?: string;
  metadata?: Record<string, unknown>;
}

/** Thrown inside an ingestion that finds its document deleted: it stops and is not retried. */
class DocumentGone extends Error {
  constructor() {
    super('the document was deleted during its ingestion');
    this.name = 'DocumentGone';
  }
}

/**
 * A failed step of an ingestion: which one (what the owner is told) and, as its cause, what
 * went wrong (for the logs, and for the queue, which waits out a store that is down).
 */
class IngestionStepFailed extends Error {
  constructor(
    readonly failure: DocumentFailure,
    cause: unknown,
  ) {
    super(`document ingestion failed: ${failure}`, { cause });
    this.name = 'IngestionStepFailed';
  }
}

/** Runs one step of an ingestion, naming it in what it throws (a deleted document stays DocumentGone). */
async function step<T>(
  failure: DocumentFailure | ((error: unknown) => DocumentFailure),
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof DocumentGone || error instanceof IngestionStepFailed) throw error;
    throw new IngestionStepFailed(typeof failure === 'function' ? failure(error) : failure, error);
  }
}

/** A parse the parser refused (VALIDATION: not of its type, no text) or one that did not finish (timeout, memory, a crash). */
const parseFailure = (error: unknown): DocumentFailure => (error instanceof AppError ? 'unreadable' : 'unprocessable');

const HEAD_BYTES = 4096;
/** Lease of the ingestion lock, renewed every third of it while the work runs. */
const INGEST_LEASE_MS = 15_000;
const EMBED_BATCH = 64;

/** A title from an uploaded file name: no directories, no control characters. */
export function titleFromFilename(filename: string): string {
  const base = path.posix
    .basename(filename.replace(/\\/g, '/'))
    // biome-ignore lint/suspicious/noControlCharactersInRegex: file names lose their control characters here
    .replace(/[\u0000-\u001f\u007f]/g, '')
    .trim();
  return (base === '' || base === '.' || base === '..' ? 'untitled' : base).slice(0, 255);
}

/**
 * Documents: uploads are spooled to a temporary file (never held whole in memory), typed
 * from their bytes, stored in object storage under a key made of ids only, and ingested in
 * the background as queue jobs: text, overlapping chunks, embeddings, vector index, and the
 * entities and co-occurrences the extractor finds, in the knowledge graph. Exactly
 * one worker ingests a document at a time (a cluster lock), and the final status write is
 * fenced, so a worker that stalled past its lease cannot overwrite the result of the next.
 *
 * Deletion and ingestion exclude each other: a delete first marks the document `deleting`
 * (it vanishes from every read), the ingestion checks the mark before each write and stops,
 * and the delete removes the document from every store under the same lock, so nothing an
 * ingestion wrote can outlive it.
 */
export class DocumentService {
  constructor(private readonly options: DocumentServiceOptions) {}

  /** Starts this node's ingestion workers. */
  start(): void {
    this.options.queue.start(
      (id) => this.ingest(id),
      (id, error) => this.markFailed(id, error),
    );
  }

  async upload(caller: Caller, upload: Upload): Promise<DocumentRecord> {
    // The quota is checked before a byte is read, and bounds the upload's size.
    const { quotas } = this.options;
    const usage = await this.options.documents.usage(caller.userId);
    const quotaError = (quota: 'documents' | 'bytes', limit: number, used: number) =>
      new AppError('PAYLOAD_TOO_LARGE', {
        message: `the ${quota} quota of this account is used up`,
        details: { quota, limit, used },
      });
    if (usage.documents >= quotas.documents) throw quotaError('documents', quotas.documents, usage.documents);
    const room = quotas.bytes - usage.bytes;
    if (room <= 0) throw quotaError('bytes', quotas.bytes, usage.bytes);
    const id = randomUUID();
    await mkdir(this.options.tmpDir, { recursive: true });
    const spool = path.join(this.options.tmpDir, `${id}.upload`);
    const hash = createHash('sha256');
    let size = 0;
    let head = Buffer.alloc(0);
    const max = Math.min(this.options.maxBytes, room);
    const tooLarge = max < this.options.maxBytes ? quotaError('bytes', quotas.bytes, usage.bytes) : undefined;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > max) {
          callback(
            tooLarge ??
              new AppError('PAYLOAD_TOO_LARGE', {
                message: `documents are at most ${max} bytes`,
                details: { limit: max },
              }),
          );
          return;
        }
        if (head.length < HEAD_BYTES) head = Buffer.concat([head, chunk.subarray(0, HEAD_BYTES - head.length)]);
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    try {
      await pipeline(upload.stream, meter, createWriteStream(spool));
      const type = detectDocumentType(head, upload.mimetype, upload.filename);
      const key = `documents/${caller.userId}/${id}/original.${documentTypes[type]}`;
      const sha256 = hash.digest('hex');
      await this.options.objects.put(key, createReadStream(spool), { contentType: type, size, metadata: { sha256 } });
      let document: DocumentRecord;
      try {
        document = await this.options.documents.create({
          id,
          userId: caller.userId,
          title: upload.title ?? titleFromFilename(upload.filename),
          metadata: { ...(upload.metadata ?? {}), sha256, filename: titleFromFilename(upload.filename) },
          filePath: key,
          fileSize: size,
          mimeType: type,
        });
      } catch (error) {
        await this.options.objects.delete(key).catch(() => undefined);
        throw error;
      }
      try {
        const ms = this.options.enqueueTimeoutMs;
        await withDeadline(
          this.options.queue.enqueue(id),
          ms,
          () => new DependencyTimeoutError('the ingestion queue', ms),
        );
      } catch (error) {
        // Nothing half-made stays behind: the row and the file go (the reconciler removes
        // the file should this fail too).
        await this.options.documents.delete(id).catch(() => undefined);
        await this.options.objects.delete(key).catch(() => undefined);
        throw new AppError('UNAVAILABLE', {
          message: 'the document could not be queued for ingestion and was not kept; retry',
          cause: error,
        });
      }
      await this.options.audit.record(caller, {
        action: 'document.upload',
        resourceType: 'document',
        resourceId: id,
        details: { bytes: size, type },
      });
      return document;
    } finally {
      await rm(spool, { force: true });
    }
  }

  /** A document of the caller (admins: any). */
  async get(caller: Caller, id: string): Promise<DocumentRecord> {
    const document = await this.options.documents.get(id);
    if (document === undefined || document.status === 'deleting')
      throw new AppError('NOT_FOUND', { message: 'document not found' });
    if (document.userId !== caller.userId && caller.role !== 'admin')
      throw new AppError('FORBIDDEN', { message: 'not your document' });
    return document;
  }

  list(caller: Caller, options: { limit: number; cursor?: string }) {
    return this.options.documents.list(caller.userId, options);
  }

  /** A presigned download link of the original file. */
  async contentUrl(caller: Caller, id: string): Promise<{ url: string; expiresAt: Date }> {
    const document = await this.get(caller, id);
    if (document.filePath === null) throw new AppError('NOT_FOUND', { message: 'the document has no file' });
    return this.options.objects.presignedGetUrl(document.filePath, 900, {
      filename: downloadName(document),
      contentType: OPAQUE_CONTENT_TYPE,
    });
  }

  /** The entities the knowledge graph found in a document of the caller (admins: any), most confident first. */
  async entities(caller: Caller, id: string, limit: number): Promise<ContainedEntity[]> {
    await this.get(caller, id);
    return this.options.graph.documentEntities(id, limit);
  }

  /**
   * Deletes a document: it is marked `deleting` at once (gone from every read, and a running
   * ingestion stops at its next write), then removed from the vector index, the graph,
   * object storage and PostgreSQL under its lock. Should that part fail (a store down, or
   * the lock not freed in time), the reconciler finishes it later.
   */
  async delete(caller: Caller, id: string): Promise<void> {
    await this.get(caller, id);
    await this.options.documents.markDeleting(id);
    await this.options.audit.record(caller, { action: 'document.delete', resourceType: 'document', resourceId: id });
    await this.purge(id).catch((error: unknown) =>
      this.options.logger.warn(
        { err: error, documentId: id },
        'removing a deleted document failed; the reconciler will finish it',
      ),
    );
  }

  /**
   * Removes a document marked `deleting` from every store, under the document's lock (so
   * after any ingestion of it has stopped); waits for the lock at most one lease.
   */
  async purge(id: string): Promise<void> {
    await purgeDocument(this.options, id);
  }

  /** The ingestion job of one document. */
  async ingest(id: string): Promise<void> {
    const document = await this.options.documents.get(id);
    if (document === undefined || document.status !== 'processing' || document.filePath === null) return;
    const filePath = document.filePath;
    const work = async ({ fencingToken, signal }: LockContext): Promise<void> => {
      // Before every write: the lease is still ours and nobody deleted the document.
      const check = async (): Promise<void> => {
        if (signal.aborted) throw new Error('lost the ingestion lock');
        if ((await this.options.documents.status(id)) !== 'processing') throw new DocumentGone();
      };
      const tell = (stage: DocumentStage, percent: number): void =>
        this.options.progress?.(document.userId, {
          documentId: id,
          status: 'processing',
          stage,
          percent: Math.round(percent),
        });
      tell('parsing', 0);
      const body = await step('storage', async () => readAll(await this.options.objects.get(filePath)));
      const { chunks, graph } = await step(parseFailure, () =>
        this.options.parser.parse({
          body,
          type: (document.mimeType ?? 'text/plain') as DocumentType,
          document: { id, ownerId: document.userId, title: document.title },
        }),
      );
      await check();
      const stored = await step('storage', () =>
        this.options.documents.replaceChunks(id, chunks).catch((error: unknown) => {
          throw hasReason(error, 'document_not_ingesting') ? new DocumentGone() : error;
        }),
      );
      await step('search_index', () => this.options.vectors.deleteByDocument(id));
      // Embedded and indexed batch by batch: memory holds one batch of vectors, whatever
      // the size of the document.
      for (let i = 0; i < stored.length; i += EMBED_BATCH) {
        tell('embedding', 10 + (80 * i) / stored.length);
        await check();
        const batch = stored.slice(i, i + EMBED_BATCH);
        await step('search_index', async () => {
          const vectors = await this.options.embedder.embed(batch.map((c) => c.content));
          await this.options.vectors.insert(
            batch.map((chunk, j) => ({
              chunkId: chunk.id,
              documentId: id,
              ownerId: document.userId,
              content: chunk.content,
              embedding: vectors[j] as number[],
              metadata: { chunkIndex: chunk.chunkIndex, title: document.title },
            })),
          );
        });
      }
      await check();
      tell('graph', 90);
      await step('knowledge_graph', () => this.options.graph.replaceDocument(graph));
      // `ready` promises that a search finds the chunks: the count is the index's strong
      // read (Milvus searches are Bounded), and milvus-lite shows inserts a moment later
      // whatever consistency is asked for.
      await step('search_index', () => this.waitSearchable(id, stored.length));
      await step('storage', () => this.finish(id, fencingToken, 'ready', null));
      this.options.progress?.(document.userId, { documentId: id, status: 'ready', stage: 'ready', percent: 100 });
    };
    // A worker that died holding the lock frees it when its lease ends: wait that long
    // (the lease is extended every few seconds while a live worker runs) before giving up.
    const deadline = Date.now() + INGEST_LEASE_MS + 5_000;
    try {
      while ((await this.options.locks.using(`document:${id}`, INGEST_LEASE_MS, work)) === undefined) {
        if (Date.now() > deadline) throw new Error(`document ${id} is being ingested by another worker`);
        await sleep(500);
        if ((await this.options.documents.status(id)) !== 'processing') return;
      }
    } catch (error) {
      // Deleted meanwhile: its deleter removes what this run wrote; nothing to retry.
      if (error instanceof DocumentGone) {
        this.options.logger.info({ documentId: id }, 'ingestion stopped: the document was deleted');
        return;
      }
      throw error;
    }
  }

  /**
   * Marks a document failed after its last attempt, first taking out what the attempts
   * left in the vector index and the graph, so that a failed document is never retrieved.
   * A store that is down keeps its part (logged). The owner is told which step failed, in
   * one of the fixed sentences; what went wrong (a driver's error names hosts and ports)
   * goes to the logs only.
   */
  async markFailed(id: string, error: unknown): Promise<void> {
    const failure = error instanceof IngestionStepFailed ? error.failure : 'failed';
    const reason: DocumentFailureReason = documentFailureReasons[failure];
    for (const [store, remove] of [
      ['vector', () => this.options.vectors.deleteByDocument(id)],
      ['graph', () => this.options.graph.deleteDocument(id)],
    ] as const) {
      await remove().catch((cleanup: unknown) =>
        this.options.logger.warn({ err: cleanup, documentId: id, store }, 'could not remove a failed document'),
      );
    }
    await this.options.documents.markFailed(id, reason);
    this.options.logger.warn(
      { documentId: id, failure, err: error instanceof IngestionStepFailed ? error.cause : error },
      'document ingestion failed',
    );
    const owner = (await this.options.documents.get(id).catch(() => undefined))?.userId;
    if (owner !== undefined)
      this.options.progress?.(owner, { documentId: id, status: 'failed', stage: 'failed', percent: 100, reason });
  }

  private async waitSearchable(id: string, expected: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ((await this.options.vectors.countByDocument(id)) < expected) {
      if (Date.now() > deadline) throw new Error('the vector index did not show the inserted chunks in time');
      await sleep(100);
    }
  }

  /** The fenced final status write. */
  private async finish(
    id: string,
    fencingToken: number,
    status: 'ready' | 'failed',
    reason: DocumentFailureReason | null,
  ): Promise<void> {
    await this.options.documents.finishIngestion(id, fencingToken, status, reason);
  }
}

/** What removing a document from every store takes. */
export type PurgeDependencies = Pick<DocumentServiceOptions, 'documents' | 'objects' | 'vectors' | 'graph' | 'locks'>;

/**
 * Removes a document marked `deleting` from every store, under the document's lock (so
 * after any ingestion of it has stopped); waits for the lock at most one lease. A document
 * already gone, or not marked, is left alone.
 */
export async function purgeDocument(deps: PurgeDependencies, id: string): Promise<void> {
  const deadline = Date.now() + INGEST_LEASE_MS + 5_000;
  for (;;) {
    const done = await deps.locks.using(`document:${id}`, INGEST_LEASE_MS, async () => {
      const document = await deps.documents.get(id);
      if (document === undefined || document.status !== 'deleting') return;
      await deps.vectors.deleteByDocument(id);
      await deps.graph.deleteDocument(id);
      if (document.filePath !== null) await deps.objects.delete(document.filePath);
      await deps.documents.delete(id);
      // Gone for good: its fencing record and counter go too.
      await deps.documents.forgetFencing(id);
      await deps.locks.forget(`document:${id}`);
    });
    if (done !== undefined) return;
    if (Date.now() > deadline) throw new Error(`document ${id} stayed locked by its ingestion`);
    await sleep(200);
  }
}

/** The stored title, with the extension of the stored type when the title lacks it. */
function downloadName(document: DocumentRecord): string {
  const extension =
    document.mimeType !== null && Object.hasOwn(documentTypes, document.mimeType)
      ? documentTypes[document.mimeType as DocumentType]
      : undefined;
  return extension === undefined || document.title.toLowerCase().endsWith(`.${extension}`)
    ? document.title
    : `${document.title}.${extension}`;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part as Buffer));
  return Buffer.concat(parts);
}
