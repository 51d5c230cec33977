import { parentPort, workerData } from 'node:worker_threads';
import { AppError } from '../../errors/app-error.js';
import { builtInExtractor, parseDocument, type ParseInput, type ParserWorkerOptions } from './parsing.js';

/** The document parsing thread of WorkerDocumentParser: one request at a time, in order. */
const extractor = builtInExtractor(workerData as ParserWorkerOptions);
let queue: Promise<void> = Promise.resolve();

parentPort?.on('message', ({ id, input }: { id: number; input: ParseInput }) => {
  queue = queue.then(async () => {
    try {
      const parsed = await parseDocument({ ...input, body: Buffer.from(input.body) }, extractor);
      parentPort?.postMessage({ id, parsed });
    } catch (error) {
      parentPort?.postMessage({
        id,
        error: { code: error instanceof AppError ? error.code : undefined, message: error instanceof Error ? error.message : String(error) },
      });
    }
  });
});
