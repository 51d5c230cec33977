import { AppError } from '../../errors/app-error.js';

/** One chunk embedding, as stored in the index. */
export interface VectorRecord {
  /** Chunk id (primary key). */
  chunkId: string;
  documentId: string;
  /** User that owns the document; every search is filtered by it. */
  ownerId: string;
  /** Chunk text (at most 8192 characters, as in the seed's collection). */
  content: string;
  embedding: number[];
  metadata?: Record<string, unknown>;
}

/** One search result, best first. */
export interface VectorHit {
  chunkId: string;
  documentId: string;
  content: string;
  /** Cosine similarity in [-1, 1]. */
  score: number;
  metadata: Record<string, unknown>;
}

/** Filters and size of one search. */
export interface VectorSearchOptions {
  /** Number of hits wanted (1-100). */
  topK: number;
  /** Only chunks of this owner are searched. */
  ownerId: string;
  /** When given, only chunks of these documents. */
  documentIds?: readonly string[];
}

/** Chunk embeddings with COSINE search (Milvus, or in-process on the embedded default). */
export interface VectorIndex {
  /** Embedding dimension of the collection. */
  readonly dimension: number;
  /** Creates the collection and its index if missing and loads it; called once at start. */
  init(): Promise<void>;
  /**
   * Adds or replaces records (by chunkId). Searches may see them only after a later
   * `countByDocument` has answered (Milvus searches are Bounded; other indexes see them at once).
   */
  insert(records: readonly VectorRecord[]): Promise<void>;
  /** Nearest chunks to `embedding` among the owner's, best first. */
  search(embedding: readonly number[], options: VectorSearchOptions): Promise<VectorHit[]>;
  /**
   * How many chunks of a document a search can see now. A strong read: once it has
   * answered, every write acknowledged before it was asked is visible to every later search.
   */
  countByDocument(documentId: string): Promise<number>;
  /** Removes every chunk of a document; searches no longer find them once it resolves. */
  deleteByDocument(documentId: string): Promise<void>;
  /** Removes the whole collection (tests and restore). */
  drop(): Promise<void>;
  /** One round trip to the backing service. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Ids that reach a filter expression are checked against a strict alphabet first, so no
 * input can change the meaning of an expression (the seed's injection bug).
 */
export function assertVectorId(value: string, field: string): string {
  if (!ID.test(value)) throw new AppError('VALIDATION', { message: `invalid ${field}`, details: { field } });
  return value;
}

/** Checks dimension and finiteness of an embedding before it reaches a store. */
export function assertEmbedding(embedding: readonly number[], dimension: number): void {
  if (embedding.length !== dimension || !embedding.every((x) => Number.isFinite(x))) {
    throw new AppError('VALIDATION', {
      message: `embedding must have ${dimension} finite numbers`,
      details: { field: 'embedding' },
    });
  }
}
