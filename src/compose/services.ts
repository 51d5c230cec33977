import path from 'node:path';
import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import { type Accounts, openAccounts } from '../services/accounts.js';
import { AgentDispatch } from '../services/agents.js';
import { Authenticator } from '../services/authenticator.js';
import { DocumentService } from '../services/documents/document-service.js';
import { WorkerDocumentParser } from '../services/documents/parsing.js';
import { GraphService } from '../services/graph/graph-service.js';
import { Notifier } from '../services/notifier.js';
import { RateLimits } from '../services/rate-limits.js';
import { StorageReconciler } from '../services/storage-reconciler.js';
import { TurnClock } from '../services/turn-clock.js';
import { openRateLimiter } from '../stores/limits/open-rate-limiter.js';
import type { JobQueue } from '../stores/queue/job-queue.js';
import { openIngestionQueue } from '../stores/queue/open-queue.js';
import type { Stores } from '../stores/stores.js';
import type { Closers } from '../util/closers.js';

/** What every step of a node shares. */
export interface NodeBase {
  config: Config;
  logger: Logger;
  metrics: Metrics;
  stores: Stores;
  closers: Closers;
}

/** The rules of the node, above the stores. */
export interface Services {
  accounts: Accounts;
  limits: RateLimits;
  auth: Authenticator;
  queue: JobQueue;
  documents: DocumentService;
  reconciler: StorageReconciler;
  graph: GraphService;
  turns: TurnClock;
  /** Pushes to users' sockets and sessions' members on every node. */
  notifier: Notifier;
  /** Which worker of its agent has each session (protocol v7). */
  agents: AgentDispatch;
}

/** Step 2 of a node (after the stores): accounts, rate limits, ingestion, the graph, turn figures. */
export async function openServices(base: NodeBase): Promise<Services> {
  const { config, logger, metrics, stores, closers } = base;
  const notifier = new Notifier(stores.pubsub, logger);
  const accounts = await openAccounts(config, stores, logger);
  closers.add('accounts', () => accounts.stop());

  const shared = await openRateLimiter(config, { logger, onSharedFailure: () => metrics.rateLimiterFailures.inc() });
  closers.add('rate limiter connection', shared.close);
  const limits = new RateLimits({
    config: config.rateLimits,
    limiter: shared.limiter,
    configs: stores.db.configs,
    pubsub: stores.pubsub,
    fixedWindows: stores.fixedWindows,
    metrics,
    logger,
  });
  await limits.start();
  closers.add('rate limits', () => limits.stop());
  const auth = new Authenticator(accounts.tokens, accounts.directory, accounts.families, (userId) =>
    limits.check('http', userId),
  );

  const queue = openIngestionQueue(config, logger);
  closers.add('ingestion queue', () => queue.close());
  const parser = new WorkerDocumentParser(
    { extractor: config.knowledge.extractor, maxEntitiesPerDocument: config.knowledge.maxEntitiesPerDocument },
    config.parsing,
  );
  closers.add('document parser', () => parser.close());
  const documents = new DocumentService({
    documents: stores.db.documents,
    objects: stores.objects,
    vectors: stores.vectors,
    // Ingestion embeds whole documents: the built-in embedder does that off the event loop.
    embedder: stores.embedder.inProcess ? parser.localEmbedder(stores.embedder.dimension) : stores.embedder,
    graph: stores.graph,
    parser,
    locks: stores.locks,
    queue,
    audit: stores.db.audit,
    logger,
    maxBytes: config.documents.maxBytes,
    tmpDir: path.join(config.dataDir, 'tmp'),
    enqueueTimeoutMs: config.dependencyTimeoutMs * 2,
    quotas: config.quotas,
    // To every socket of the owner, on any node.
    progress: (ownerId, event) => notifier.push({ userId: ownerId }, { event: 'document:status', payload: event }),
  });
  const reconciler = new StorageReconciler(
    {
      documents: stores.db.documents,
      purge: (id) => documents.purge(id),
      queue,
      objects: stores.objects,
      messages: stores.messages,
      locks: stores.locks,
      sweepRefreshTokens: () => accounts.refreshTokens.sweepExpired(),
      logger,
    },
    config.reconcile,
  );
  const graph = new GraphService({ graph: stores.graph, audit: stores.db.audit, logger, gds: config.knowledge.gds });
  const turns = new TurnClock(stores.turns, metrics, logger);
  const agents = new AgentDispatch(
    { repo: stores.db.agents, notifier, pubsub: stores.pubsub, logger },
    { redispatchMs: config.agents.redispatchMs, defaultAgent: config.agents.defaultAgent },
  );
  return { accounts, limits, auth, queue, documents, reconciler, graph, turns, notifier, agents };
}
