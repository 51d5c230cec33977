import { AppError } from '../../errors/app-error.js';
import type { Embedder } from '../../stores/embeddings/embedder.js';
import type { VectorIndex } from '../../stores/vector/vector-index.js';
import type { SessionService } from '../../services/session-service.js';
import type { EventHandler } from '../dispatcher.js';
import { callerOf } from '../context.js';

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * `retrieve` (PROTOCOL section 6), vector part: the query is embedded and searched among
 * the documents of the session's owner (when `sessionId` is given and the caller may act
 * on it: services retrieve for the user they serve) or of the caller. When the vector store
 * is down the answer is empty with `degraded: ['vector']`. The graph part comes with the
 * knowledge-graph issue; until then `entities` is empty.
 */
export function retrieveHandler(deps: { sessions: SessionService; embedder: Embedder; vectors: VectorIndex }): EventHandler<'retrieve'> {
  return async ({ query, topK, documentIds, sessionId }, socket) => {
    const started = performance.now();
    const caller = callerOf(socket);
    const ownerId = sessionId === undefined ? caller.userId : (await deps.sessions.authorize(caller, sessionId)).userId;
    const [embedding] = await deps.embedder.embed([query]);
    const embedded = performance.now();
    const degraded: ('vector' | 'graph')[] = [];
    let chunks: Awaited<ReturnType<VectorIndex['search']>> = [];
    try {
      chunks = await deps.vectors.search(embedding ?? [], { topK: topK ?? 5, ownerId, ...(documentIds === undefined ? {} : { documentIds }) });
    } catch (error) {
      if (error instanceof AppError && error.status < 500) throw error;
      degraded.push('vector');
    }
    const searched = performance.now();
    return {
      chunks,
      entities: [],
      timings: { embedMs: round(embedded - started), vectorMs: round(searched - embedded), graphMs: 0, totalMs: round(performance.now() - started) },
      ...(degraded.length === 0 ? {} : { degraded }),
    };
  };
}
