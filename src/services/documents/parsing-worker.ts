import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../errors/app-error.js';
import { LocalEmbedder } from '../../stores/embeddings/local-embedder.js';
import { builtInExtractor, type ParserWorkerOptions, parseDocument, type WorkerRequest } from './parsing.js';

/** The thread of WorkerDocumentParser: parses documents and embeds texts, one request at a time, in order. */
const extractor = builtInExtractor(workerData as ParserWorkerOptions);
const embedders = new Map<number, LocalEmbedder>();
let queue: Promise<void> = Promise.resolve();

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

parentPort?.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      parentPort?.postMessage({ id: request.id, result: await run(request) });
    } catch (error) {
      parentPort?.postMessage({
        id: request.id,
        error: {
          code: error instanceof AppError ? error.code : undefined,
          message: error instanceof Error ? error.message : String(error),
        },
      });
    }
  });
});
