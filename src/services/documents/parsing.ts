import { Worker } from 'node:worker_threads';
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
  parse(input: ParseInput): Promise<ParsedDocument>;
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

/** A request to the worker: parse a document, or embed texts with the local embedder. */
export type WorkerRequest =
  | { id: number; kind: 'parse'; input: ParseInput }
  | { id: number; kind: 'embed'; texts: readonly string[]; dimension: number };
type Reply = { id: number; result: unknown } | { id: number; error: { code: ErrorCode | undefined; message: string } };

/** Limits of the parsing worker. */
export interface ParserLimits {
  /** Longest one request (a parse, a batch of embeddings) may run before the worker is replaced (`PARSE_TIMEOUT_MS`). */
  timeoutMs: number;
  /** Heap of the worker thread in MiB (`resourceLimits.maxOldGenerationSizeMb`, `PARSE_MAX_MEMORY_MB`). */
  maxMemoryMb: number;
}

/**
 * Parses with the built-in extractor on one worker thread, so that a large document never
 * stalls the sockets of the node that ingests it; the built-in local embedder can run
 * there too (`embedder`). Requests run in the worker one after another, in order. The one
 * running is bounded in time (`timeoutMs`) and the worker in memory (`maxMemoryMb`): a
 * request past either fails alone (that document's attempt), the worker is replaced, and
 * the requests queued behind it run on the new one.
 */
export class WorkerDocumentParser implements DocumentParser {
  private worker: Worker | undefined;
  /** Requests sent and not answered, in the order the worker takes them. */
  private readonly pending = new Map<
    number,
    { message: WorkerRequest; resolve: (result: unknown) => void; reject: (error: Error) => void }
  >();
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly limits: ParserLimits;

  constructor(
    private readonly options: ParserWorkerOptions,
    limits: Partial<ParserLimits> = {},
  ) {
    this.limits = { timeoutMs: limits.timeoutMs ?? 120_000, maxMemoryMb: limits.maxMemoryMb ?? 1_024 };
  }

  parse(input: ParseInput): Promise<ParsedDocument> {
    return this.request({ id: this.next++, kind: 'parse', input }) as Promise<ParsedDocument>;
  }

  /** The built-in local embedder (LocalEmbedder), run on this worker thread. */
  localEmbedder(dimension: number): Embedder {
    return {
      dimension,
      name: 'local-hash',
      embed: (texts) => this.request({ id: this.next++, kind: 'embed', texts, dimension }) as Promise<number[][]>,
    };
  }

  private request(message: WorkerRequest): Promise<unknown> {
    const worker = this.started();
    return new Promise((resolve, reject) => {
      this.pending.set(message.id, { message, resolve, reject });
      worker.postMessage(message);
      if (this.pending.size === 1) this.watchHead();
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    const worker = this.worker;
    this.worker = undefined;
    if (worker !== undefined) await worker.terminate();
  }

  /** Times the request the worker is running now (the oldest one unanswered). */
  private watchHead(): void {
    clearTimeout(this.timer);
    const head = this.pending.keys().next();
    if (head.done === true) return;
    const id = head.value;
    this.timer = setTimeout(
      () => this.failHead(id, new Error(`parsing took longer than ${this.limits.timeoutMs} ms and was stopped`)),
      this.limits.timeoutMs,
    );
    this.timer.unref();
  }

  /** Fails the running request alone, replaces the worker, and hands it what was queued. */
  private failHead(id: number, error: Error): void {
    const head = this.pending.get(id);
    if (head === undefined) return;
    this.pending.delete(id);
    head.reject(error);
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    if (this.pending.size === 0) return;
    const fresh = this.started();
    for (const { message } of this.pending.values()) fresh.postMessage(message);
    this.watchHead();
  }

  private started(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(compiledWorker(import.meta.url, 'parsing-worker.js'), {
      workerData: this.options,
      resourceLimits: { maxOldGenerationSizeMb: this.limits.maxMemoryMb },
    });
    worker.unref();
    worker.on('message', (reply: Reply) => {
      if (worker !== this.worker) return;
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      this.watchHead();
      if (waiting === undefined) return;
      if ('result' in reply) waiting.resolve(reply.result);
      else
        waiting.reject(
          reply.error.code === undefined
            ? new Error(reply.error.message)
            : new AppError(reply.error.code, { message: reply.error.message }),
        );
    });
    // A worker that dies (out of memory, a crash) fails the request it was running.
    const died = (error: Error) => {
      if (worker !== this.worker) return;
      const head = this.pending.keys().next();
      if (head.done === true) this.worker = undefined;
      else this.failHead(head.value, error);
    };
    worker.on('error', died);
    worker.on('exit', (code) => died(new Error(`the document parsing worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}
