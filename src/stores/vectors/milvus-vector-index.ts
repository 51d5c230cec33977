import { ConsistencyLevelEnum, DataType, MilvusClient, type ResStatus } from '@zilliz/milvus2-sdk-node';
import { AppError } from '../../errors/app-error.js';
import {
  assertEmbedding,
  assertVectorId,
  type VectorHit,
  type VectorIndex,
  type VectorRecord,
  type VectorSearchOptions,
} from './vector-index.js';

/** Connection and collection settings of the Milvus adapter. */
export interface MilvusVectorIndexOptions {
  /** `host:port` of the Milvus gRPC endpoint. */
  address: string;
  /** `user:password` or an API key. */
  token: string | undefined;
  collection: string;
  dimension: number;
  /** HNSW `ef` of searches (raised to topK when smaller): `MILVUS_SEARCH_EF`. */
  searchEf: number;
}

const CONTENT_MAX = 8192;
/**
 * The most rows a search short of topK reads to rank them exactly (see `exactSearch`): at
 * 1,024 dimensions, 4 MiB of embeddings at most.
 */
const EXACT_SEARCH_MAX_ROWS = 1024;

/** Cosine similarity, as Milvus's COSINE metric scores it. */
function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

function check(status: ResStatus | { status: ResStatus }, what: string): void {
  const s = 'status' in status ? status.status : status;
  if (s.error_code !== 'Success' && s.code !== 0) {
    throw new AppError('UNAVAILABLE', { message: `vector index: ${what} failed`, cause: new Error(s.reason) });
  }
}

/**
 * Whether Milvus refused a call because the collection is not loaded: after a restart it
 * comes back released (milvus-lite always; a standalone whose load state was lost, too).
 * Milvus 2.3 answers code 101 ("collection not loaded"), milvus-lite names the state.
 */
function notLoaded(status: ResStatus | { status: ResStatus }): boolean {
  const s = 'status' in status ? status.status : status;
  return s.code === 101 || /not loaded|state 'released'|call load\(\)/i.test(s.reason ?? '');
}

/** A list literal of ids that `assertVectorId` has already restricted to `[A-Za-z0-9_-]`. */
function idList(ids: readonly string[], field: string): string {
  return `[${ids.map((id) => JSON.stringify(assertVectorId(id, field))).join(', ')}]`;
}

/**
 * Chunk embeddings in Milvus: the seed's fields (chunk_id, document_id, content, embedding,
 * metadata, created_at) plus owner_id; COSINE metric, HNSW (M 16, efConstruction 200).
 * The collection is loaded at `init`, and again whenever Milvus answers that it is not
 * (it restarted): the call is then retried once, so retrieval is whole again after a
 * Milvus restart without restarting the node. Inserts are never followed by a flush
 * (Milvus seals segments itself).
 *
 * Consistency: searches are Bounded, reads of what the query node has applied so far (on
 * Milvus 2.3.5 standalone a search takes 3 ms where Strong takes about 400 ms, because
 * Strong waits for the next time tick). `countByDocument` is Strong, and so it is the
 * barrier: once it has answered, every write acknowledged before it was asked is visible
 * to every later search. Ingestion ends with it before a document is `ready`, and
 * `deleteByDocument` ends with it, so a search never finds a deleted document's chunks.
 * (With several query-node replicas a Bounded search may reach one that lags; this
 * adapter is proven on a standalone.)
 *
 * Filter expressions contain only ids checked by `assertVectorId`. The SDK's expression
 * templates (`exprValues`) would be preferable, but Milvus 2.3 and milvus-lite do not accept them.
 */
export class MilvusVectorIndex implements VectorIndex {
  readonly dimension: number;
  private readonly client: MilvusClient;
  private readonly collection: string;
  private readonly searchEf: number;
  /** The load in progress after a "not loaded" answer, shared by every call that saw one. */
  private reloading: Promise<void> | undefined;

  constructor(options: MilvusVectorIndexOptions) {
    this.dimension = options.dimension;
    this.collection = options.collection;
    this.searchEf = options.searchEf;
    this.client = new MilvusClient({
      address: options.address,
      ...(options.token === undefined ? {} : { token: options.token }),
      timeout: 15_000,
      logLevel: 'warn',
    });
    // The SDK connects in the background from its constructor; when Milvus is down that
    // promise rejects with nobody waiting. Failures surface through each call instead.
    this.client.connectPromise.catch(() => undefined);
  }

  async init(): Promise<void> {
    const has = await this.client.hasCollection({ collection_name: this.collection });
    check(has, 'hasCollection');
    if (has.value !== true) {
      const created = await this.client.createCollection({
        collection_name: this.collection,
        description: 'Document chunks with embeddings',
        consistency_level: 'Strong',
        fields: [
          { name: 'chunk_id', data_type: DataType.VarChar, is_primary_key: true, max_length: 64 },
          { name: 'document_id', data_type: DataType.VarChar, max_length: 64 },
          { name: 'owner_id', data_type: DataType.VarChar, max_length: 64 },
          { name: 'content', data_type: DataType.VarChar, max_length: CONTENT_MAX },
          { name: 'embedding', data_type: DataType.FloatVector, dim: this.dimension },
          { name: 'metadata', data_type: DataType.JSON },
          { name: 'created_at', data_type: DataType.Int64 },
        ],
      });
      check(created, 'createCollection');
      // Milvus 2.3 takes the index apart from the collection (its SDK has no index_params).
      const indexed = await this.client.createIndex({
        collection_name: this.collection,
        field_name: 'embedding',
        index_type: 'HNSW',
        metric_type: 'COSINE',
        params: { M: 16, efConstruction: 200 },
      });
      check(indexed, 'createIndex');
    }
    await this.load();
  }

  private async load(): Promise<void> {
    check(await this.client.loadCollectionSync({ collection_name: this.collection }), 'loadCollection');
  }

  /** Runs `call`; when Milvus answers that the collection is not loaded, loads it (once for all callers) and runs it again. */
  private async loaded<R extends ResStatus | { status: ResStatus }>(what: string, call: () => Promise<R>): Promise<R> {
    const first = await call();
    if (!notLoaded(first)) {
      check(first, what);
      return first;
    }
    this.reloading ??= this.load().finally(() => (this.reloading = undefined));
    await this.reloading;
    const second = await call();
    check(second, what);
    return second;
  }

  async insert(records: readonly VectorRecord[]): Promise<void> {
    if (records.length === 0) return;
    const now = Date.now();
    const data = records.map((r) => {
      assertVectorId(r.chunkId, 'chunkId');
      assertVectorId(r.documentId, 'documentId');
      assertVectorId(r.ownerId, 'ownerId');
      assertEmbedding(r.embedding, this.dimension);
      return {
        chunk_id: r.chunkId,
        document_id: r.documentId,
        owner_id: r.ownerId,
        content: r.content.slice(0, CONTENT_MAX),
        embedding: [...r.embedding],
        metadata: r.metadata ?? {},
        created_at: now,
      };
    });
    await this.loaded('upsert', () => this.client.upsert({ collection_name: this.collection, data }));
  }

  async search(embedding: readonly number[], options: VectorSearchOptions): Promise<VectorHit[]> {
    assertEmbedding(embedding, this.dimension);
    let filter = `owner_id == ${JSON.stringify(assertVectorId(options.ownerId, 'ownerId'))}`;
    if (options.documentIds !== undefined) {
      if (options.documentIds.length === 0) return [];
      filter += ` && document_id in ${idList(options.documentIds, 'documentId')}`;
    }
    const result = await this.loaded('search', () =>
      this.client.search({
        collection_name: this.collection,
        data: [[...embedding]],
        limit: options.topK,
        filter,
        output_fields: ['chunk_id', 'document_id', 'content', 'metadata'],
        params: { ef: Math.max(this.searchEf, options.topK) },
        consistency_level: ConsistencyLevelEnum.Bounded,
      }),
    );
    const hits = result.results.map((hit) => ({
      chunkId: String(hit.chunk_id ?? hit.id),
      documentId: String(hit.document_id),
      content: String(hit.content ?? ''),
      score: Number(hit.score),
      metadata: (hit.metadata as Record<string, unknown> | null) ?? {},
    }));
    if (hits.length >= options.topK) return hits;
    return (await this.exactSearch(embedding, filter, options.topK)) ?? hits;
  }

  /**
   * The filter's rows compared one by one, when there are at most EXACT_SEARCH_MAX_ROWS of
   * them (else undefined). A filtered HNSW search (and the interim index of a growing
   * segment) walks the graph of the whole collection and keeps what passes the filter: when
   * the filter keeps a tiny share of it (a user with a few chunks beside one with 20,000),
   * the walk often ends before reaching any of them, and Milvus 2.3 answers short or empty
   * (milvus-io/milvus#28603, #33933; 29 of 30 such searches here came back short). An
   * answer short of topK therefore means either that the filter's rows are that few, or
   * that the walk missed them: reading the few rows and ranking them exactly answers both.
   */
  private async exactSearch(
    embedding: readonly number[],
    filter: string,
    topK: number,
  ): Promise<VectorHit[] | undefined> {
    const result = await this.loaded('query', () =>
      this.client.query({
        collection_name: this.collection,
        filter,
        output_fields: ['chunk_id', 'document_id', 'content', 'metadata', 'embedding'],
        limit: EXACT_SEARCH_MAX_ROWS + 1,
        consistency_level: ConsistencyLevelEnum.Bounded,
      }),
    );
    if (result.data.length > EXACT_SEARCH_MAX_ROWS) return undefined;
    return result.data
      .map((row) => ({
        chunkId: String(row['chunk_id']),
        documentId: String(row['document_id']),
        content: String(row['content'] ?? ''),
        score: cosine(embedding, row['embedding'] as number[]),
        metadata: (row['metadata'] as Record<string, unknown> | null) ?? {},
      }))
      .sort((a, b) => b.score - a.score)
      .slice(0, topK);
  }

  async countByDocument(documentId: string): Promise<number> {
    // count(*) has no row cap (a query for the rows themselves stops at 16,384).
    const result = await this.loaded('query', () =>
      this.client.query({
        collection_name: this.collection,
        filter: `document_id in ${idList([documentId], 'documentId')}`,
        output_fields: ['count(*)'],
        consistency_level: ConsistencyLevelEnum.Strong,
      }),
    );
    return Number(result.data[0]?.['count(*)'] ?? 0);
  }

  async deleteByDocument(documentId: string): Promise<void> {
    const filter = `document_id in ${idList([documentId], 'documentId')}`;
    await this.loaded('delete', () => this.client.deleteEntities({ collection_name: this.collection, filter }));
    // The barrier (see the class comment): later Bounded searches no longer see the chunks.
    const left = await this.countByDocument(documentId);
    if (left > 0)
      throw new AppError('UNAVAILABLE', {
        message: `vector index: ${left} chunks of the document are still visible after delete`,
      });
  }

  async drop(): Promise<void> {
    check(await this.client.dropCollection({ collection_name: this.collection }), 'dropCollection');
  }

  async ping(): Promise<void> {
    const health = await this.client.checkHealth();
    if (!health.isHealthy) throw new AppError('UNAVAILABLE', { message: 'Milvus reports unhealthy' });
  }

  async close(): Promise<void> {
    await this.client.closeConnection();
  }
}
