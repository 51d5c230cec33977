import { Piscina } from 'piscina';
import type { ErrorCode } from '../../../protocol/errors.js';
import { AppError } from '../../errors/app-error.js';
import type { Embedder } from '../../stores/embeddings/embedder.js';
import type { DocumentGraph } from '../../stores/graph/graph-store.js';
import { compiledWorker } from '../../util/workers.js';
import { documentGraph, type EntityExtractor, KeywordEntityExtractor, noEntities } from '../graph/extraction.js';
import { chunkText, type DocumentType, extractText, type TextChunk } from './text.js';

/** A document as ingestion needs it: chunks for the vector index, its share of the graph. */
export interface ParsedDocument {
  chunks: TextChunk[];
  graph: DocumentGraph;
}

export interface ParseInput {
  body: Buffer;
  type: DocumentType;
  document: { id: string; ownerId: string; title: string };
}

/**
 * Turns an uploaded file into chunks and graph data: text extraction, chunking, entity
 * extraction, co-occurrences. All of it is CPU work that grows with the document.
 */
export interface DocumentParser {
  /** Parses; `signal` gives the parse up (a worker thread running it is replaced). */
  parse(input: ParseInput, signal?: AbortSignal): Promise<ParsedDocument>;
  close(): Promise<void>;
}

/** The whole parse, in whatever thread calls it. */
export async function parseDocument(input: ParseInput, extractor: EntityExtractor): Promise<ParsedDocument> {
  const text = await extractText(input.body, input.type);
  const chunks = chunkText(text);
  if (chunks.length === 0) throw new AppError('VALIDATION', { message: 'the document contains no text' });
  const entities = await extractor.extract(text);
  return {
    chunks,
    graph: documentGraph(
      input.document,
      entities,
      chunks.map((c) => c.content),
    ),
  };
}

/** Parses on the calling thread, with any extractor (a custom one, or in tests). */
export class InlineDocumentParser implements DocumentParser {
  constructor(private readonly extractor: EntityExtractor) {}

  parse(input: ParseInput): Promise<ParsedDocument> {
    return parseDocument(input, this.extractor);
  }

  async close(): Promise<void> {}
}

/** What the parsing worker is started with. */
export interface ParserWorkerOptions {
  extractor: 'keywords' | 'none';
  maxEntitiesPerDocument: number;
}

/** The built-in extractor a worker runs. */
export function builtInExtractor(options: ParserWorkerOptions): EntityExtractor {
  return options.extractor === 'none' ? noEntities : new KeywordEntityExtractor(options.maxEntitiesPerDocument);
}

/** A request to a parsing thread: parse a document, or embed texts with the local embedder. */
export type WorkerRequest =
  | { kind: 'parse'; input: ParseInput }
  | { kind: 'embed'; texts: readonly string[]; dimension: number };
/** A thread's answer: its result, or its error with the code an AppError had (errors cross threads without it). */
export type WorkerReply = { result: unknown } | { error: { code: ErrorCode | undefined; message: string } };

/** Limits of the parsing threads. */
export interface ParserLimits {
  /** Threads parsing and embedding at once (`PARSE_WORKERS`). */
  threads: number;
  /** Requests waiting for a thread; more are refused with UNAVAILABLE (`PARSE_QUEUE_MAX`). */
  maxQueue: number;
  /** Longest one request (a parse, a batch of embeddings) may take, from when it was made, before its thread is replaced (`PARSE_TIMEOUT_MS`). */
  timeoutMs: number;
  /** Heap of each thread in MiB (`resourceLimits.maxOldGenerationSizeMb`, `PARSE_MAX_MEMORY_MB`). */
  maxMemoryMb: number;
}

/** How long a caller refused for a full queue should wait. */
const QUEUE_FULL_RETRY_MS = 1_000;

/**
 * Parses with the built-in extractor on a pool of worker threads (piscina), so that a large
 * document never stalls the sockets of the node that ingests it, and documents do not wait
 * in one line; the built-in local embedder runs there too (`embedder`). A request is bounded
 * in time (`timeoutMs`, its wait for a thread included) and each thread in memory
 * (`maxMemoryMb`): a request past either fails alone (that document's attempt) and its
 * thread is replaced; a request beyond `maxQueue` waiting ones is refused at once with
 * UNAVAILABLE (ingestion retries it; a retrieval's embedding fails fast instead of waiting).
 * Threads start on demand and end after a minute idle.
 */
export class WorkerDocumentParser implements DocumentParser {
  private pool: Piscina<WorkerRequest, WorkerReply> | undefined;

  constructor(
    private readonly options: ParserWorkerOptions,
    private readonly limits: ParserLimits,
  ) {}

  parse(input: ParseInput, signal?: AbortSignal): Promise<ParsedDocument> {
    return this.request({ kind: 'parse', input }, signal) as Promise<ParsedDocument>;
  }

  /** The built-in local embedder (LocalEmbedder), run on the parsing threads. */
  localEmbedder(dimension: number): Embedder {
    return {
      dimension,
      name: 'local-hash',
      embed: (texts) => this.request({ kind: 'embed', texts, dimension }) as Promise<number[][]>,
    };
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private async request(request: WorkerRequest, cancel?: AbortSignal): Promise<unknown> {
    const pool = this.started();
    if (pool.queueSize >= this.limits.maxQueue)
      throw new AppError('UNAVAILABLE', {
        message: `${pool.queueSize} documents and embeddings wait for a parsing thread, the most at once; retry shortly`,
        retryAfterMs: QUEUE_FULL_RETRY_MS,
      });
    const timeout = AbortSignal.timeout(this.limits.timeoutMs);
    const signal = cancel === undefined ? timeout : AbortSignal.any([timeout, cancel]);
    let reply: WorkerReply;
    try {
      reply = await pool.run(request, { signal });
    } catch (error) {
      if (timeout.aborted)
        throw new Error(`parsing took longer than ${this.limits.timeoutMs} ms and was stopped`, { cause: error });
      throw error;
    }
    if ('result' in reply) return reply.result;
    throw reply.error.code === undefined
      ? new Error(reply.error.message)
      : new AppError(reply.error.code, { message: reply.error.message });
  }

  private started(): Piscina<WorkerRequest, WorkerReply> {
    this.pool ??= new Piscina<WorkerRequest, WorkerReply>({
      filename: compiledWorker(import.meta.url, 'parsing-worker.js'),
      workerData: this.options,
      minThreads: 0,
      maxThreads: this.limits.threads,
      idleTimeout: 60_000,
      resourceLimits: { maxOldGenerationSizeMb: this.limits.maxMemoryMb },
    });
    return this.pool;
  }
}
