import type { Logger } from '../logger.js';
import type { LockManager } from '../stores/locks/lock-manager.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import type { ObjectStore } from '../stores/objects/object-store.js';
import type { DocumentRepository } from '../stores/postgres/repositories/documents.js';
import type { JobQueue } from '../stores/queue/job-queue.js';

/** Options of the reconciler. */
export interface StorageReconcilerOptions {
  /** How often each node tries a run, one node at a time doing it (`RECONCILE_INTERVAL_MS`). */
  intervalMs: number;
  /** Nothing younger than this is touched: uploads and audio commits in flight (`RECONCILE_GRACE_MS`). */
  graceMs: number;
}

/** What one run did. */
export interface ReconcileReport {
  /** False when another node held the lock (it ran). */
  ran: boolean;
  /** `processing` documents with no live job, queued again. */
  requeued: string[];
  /** `deleting` tombstones whose removal was finished. */
  purged: string[];
  /** Objects that no row refers to, removed. */
  removedObjects: string[];
  /** Refresh tokens expired more than a day ago, deleted. */
  expiredRefreshTokens: number;
}

const RESOURCE = 'reconcile:storage';
const BATCH = 500;

/**
 * Repairs what a failure between two stores can leave behind, on every node, one node at
 * a time (a cluster lock), each thing only once it is older than the grace period:
 *
 * - a document stuck in `processing` with no live ingestion job (the enqueue failed after
 *   the row was written, or the in-process queue of a single node was lost in a restart)
 *   is queued again;
 * - a document left `deleting` by a node that died mid-delete is removed from every store;
 * - an object under `documents/` whose document has no row, or under `audio/` that no
 *   audio message refers to (an `audio:end` whose commit failed and was never retried),
 *   is removed;
 * - refresh tokens expired more than a day ago are deleted.
 */
export class StorageReconciler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly deps: {
      documents: DocumentRepository;
      /** Finishes the removal of a `deleting` document (DocumentService.purge). */
      purge: (id: string) => Promise<void>;
      queue: JobQueue;
      objects: ObjectStore;
      messages: MessageStore;
      locks: LockManager;
      /** Deletes refresh tokens expired long ago; returns how many. */
      sweepRefreshTokens: () => Promise<number>;
      logger: Logger;
    },
    private readonly options: StorageReconcilerOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = true;
      this.run()
        .catch((error: unknown) =>
          this.deps.logger.warn({ err: error }, 'reconciling storage failed; retrying at the next run'),
        )
        .finally(() => (this.running = false));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One run, if no other node is running one. */
  async run(): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      ran: false,
      requeued: [],
      purged: [],
      removedObjects: [],
      expiredRefreshTokens: 0,
    };
    const held = await this.deps.locks.using(
      RESOURCE,
      60_000,
      async () => {
        report.ran = true;
        await this.requeue(report);
        await this.purge(report);
        await this.removeOrphans(report);
        report.expiredRefreshTokens = await this.deps.sweepRefreshTokens();
      },
      { fenced: false },
    );
    if (
      held !== undefined &&
      (report.requeued.length > 0 ||
        report.purged.length > 0 ||
        report.removedObjects.length > 0 ||
        report.expiredRefreshTokens > 0)
    ) {
      this.deps.logger.info(
        {
          requeued: report.requeued.length,
          purged: report.purged.length,
          removedObjects: report.removedObjects.length,
          expiredRefreshTokens: report.expiredRefreshTokens,
        },
        'reconciled storage',
      );
    }
    return report;
  }

  private async requeue(report: ReconcileReport): Promise<void> {
    for (const id of await this.deps.documents.stale('processing', this.options.graceMs, BATCH)) {
      if (await this.deps.queue.has(id)) continue;
      await this.deps.queue.enqueue(id);
      report.requeued.push(id);
    }
  }

  private async purge(report: ReconcileReport): Promise<void> {
    for (const id of await this.deps.documents.stale('deleting', this.options.graceMs, BATCH)) {
      try {
        await this.deps.purge(id);
        report.purged.push(id);
      } catch (error) {
        this.deps.logger.warn(
          { err: error, documentId: id },
          'could not finish deleting a document; retrying at the next run',
        );
      }
    }
  }

  private async removeOrphans(report: ReconcileReport): Promise<void> {
    const before = Date.now() - this.options.graceMs;
    const old = async (prefix: string) =>
      (await this.deps.objects.list(prefix)).filter((o) => o.lastModified.getTime() < before).map((o) => o.key);

    // documents/<userId>/<documentId>/original.<ext>
    const documentKeys = await old('documents/');
    for (let i = 0; i < documentKeys.length; i += BATCH) {
      const keys = documentKeys.slice(i, i + BATCH);
      const existing = await this.deps.documents.existing(keys.map((key) => key.split('/')[2] ?? ''));
      for (const key of keys) if (!existing.has(key.split('/')[2] ?? '')) await this.remove(key, report);
    }
    // audio/<sessionId>/<objectId>.<ext>
    const audioKeys = await old('audio/');
    for (let i = 0; i < audioKeys.length; i += BATCH) {
      const keys = audioKeys.slice(i, i + BATCH);
      const referenced = await this.deps.messages.referencedAudioKeys(keys);
      for (const key of keys) if (!referenced.has(key)) await this.remove(key, report);
    }
  }

  private async remove(key: string, report: ReconcileReport): Promise<void> {
    await this.deps.objects.delete(key);
    report.removedObjects.push(key);
  }
}
