import { workerData } from 'node:worker_threads';
import { AppError } from '../../errors/app-error.js';
import { LocalEmbedder } from '../../stores/embeddings/local-embedder.js';
import {
  builtInExtractor,
  type ParserWorkerOptions,
  parseDocument,
  type WorkerReply,
  type WorkerRequest,
} from './parsing.js';

/** A thread of WorkerDocumentParser's pool (piscina runs the default export per request): parses documents and embeds texts. */
const extractor = builtInExtractor(workerData as ParserWorkerOptions);
const embedders = new Map<number, LocalEmbedder>();

async function run(request: WorkerRequest): Promise<unknown> {
  if (request.kind === 'parse') {
    const body = request.input.body;
    return parseDocument(
      { ...request.input, body: Buffer.from(body.buffer, body.byteOffset, body.byteLength) },
      extractor,
    );
  }
  const embedder = embedders.get(request.dimension) ?? new LocalEmbedder(request.dimension);
  embedders.set(request.dimension, embedder);
  return embedder.embed(request.texts);
}

export default async function handle(request: WorkerRequest): Promise<WorkerReply> {
  try {
    return { result: await run(request) };
  } catch (error) {
    return {
      error: {
        code: error instanceof AppError ? error.code : undefined,
        message: error instanceof Error ? error.message : String(error),
      },
    };
  }
}
