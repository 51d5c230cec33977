import { AppError, DependencyTimeoutError, isServerFault } from '../../errors/app-error.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics.js';
import type { GraphService } from '../../services/graph/graph-service.js';
import type { SessionService } from '../../services/session-service.js';
import type { Embedder } from '../../stores/embeddings/embedder.js';
import type { RankedEntity } from '../../stores/graph/graph-store.js';
import type { VectorIndex } from '../../stores/vectors/vector-index.js';
import { traced } from '../../tracing.js';
import { roundTo } from '../../util/numbers.js';
import { withDeadline } from '../../util/timeout.js';
import { callerOf } from '../context.js';
import type { AppSocket, EventHandler } from '../dispatcher.js';

const round = (ms: number) => roundTo(ms, 2);
/** Entities returned per answer: twice the chunks asked for, at least 10. */
const entityLimit = (topK: number) => Math.max(10, 2 * topK);

/**
 * `retrieve` (PROTOCOL section 6). The query is embedded and searched among the documents
 * of the caller, or of the session's owner when `sessionId` names a session of someone else
 * that this very socket has joined and not left (a service retrieves for the user it serves
 * in that conversation, and only there); then the knowledge graph expands the
 * hit documents' entities up to `graphDepth` hops (ranking in GraphService.expandHits).
 * Each half that fails, or is still running when the two halves have taken `timeoutMs`
 * together (a store that accepts connections but does not answer, as while it starts or
 * stops), leaves its part empty and is named in `degraded`; the graph half has nothing to
 * expand when the vector half is down.
 */
export function retrieveHandler(deps: {
  sessions: SessionService;
  embedder: Embedder;
  vectors: VectorIndex;
  graph: GraphService;
  /** True while the socket is joined to the session (on this node). */
  joined: (socket: AppSocket, sessionId: string) => boolean;
  /** Longest the two halves may take together; a half still running then degrades. */
  timeoutMs: number;
  metrics: Metrics;
  logger: Logger;
}): EventHandler<'retrieve'> {
  return async ({ query, topK = 5, documentIds, graphDepth = 1, sessionId }, socket) => {
    const started = performance.now();
    const caller = callerOf(socket);
    const ownerId = sessionId === undefined ? caller.userId : (await deps.sessions.authorize(caller, sessionId)).userId;
    if (ownerId !== caller.userId && sessionId !== undefined && !deps.joined(socket, sessionId)) {
      throw new AppError('FORBIDDEN', {
        message: "retrieving from another user's documents needs their session joined on this socket",
      });
    }
    const [embedding] = await traced('embed', {}, () => deps.embedder.embed([query]));
    const embedded = performance.now();
    const degraded: ('vector' | 'graph')[] = [];
    const deadline = embedded + deps.timeoutMs;
    /** The part's answer, or `fallback` when its store failed (then named in `degraded`). */
    const part = async <T>(name: 'vector' | 'graph', work: () => Promise<T>, fallback: T): Promise<T> => {
      try {
        const left = Math.max(0, deadline - performance.now());
        return await traced(name === 'vector' ? 'vector search' : 'graph expand', {}, () =>
          withDeadline(work(), left, () => new DependencyTimeoutError(`the ${name} store`, deps.timeoutMs)),
        );
      } catch (error) {
        if (!isServerFault(error)) throw error;
        degraded.push(name);
        deps.metrics.retrieveDegraded.inc({ part: name });
        deps.logger.warn({ err: error }, `retrieve without its ${name} part: the store failed`);
        return fallback;
      }
    };
    const chunks = await part(
      'vector',
      () =>
        deps.vectors.search(embedding ?? [], { topK, ownerId, ...(documentIds === undefined ? {} : { documentIds }) }),
      [],
    );
    const searched = performance.now();
    const entities = await part(
      'graph',
      () => deps.graph.expandHits(chunks, query, graphDepth, entityLimit(topK)),
      [] as RankedEntity[],
    );
    const expanded = performance.now();
    return {
      chunks,
      entities,
      timings: {
        embedMs: round(embedded - started),
        vectorMs: round(searched - embedded),
        graphMs: round(expanded - searched),
        totalMs: round(expanded - started),
      },
      ...(degraded.length === 0 ? {} : { degraded }),
    };
  };
}
