import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { GraphStore } from '../stores/graph/graph-store.js';
import type { LockManager } from '../stores/locks/lock-manager.js';
import type { ObjectStore } from '../stores/objects/object-store.js';
import type { Actor } from '../stores/postgres/repositories/audit.js';
import type { ErasureRecord } from '../stores/postgres/repositories/erasures.js';
import type { Repositories } from '../stores/stores.js';
import type { VectorIndex } from '../stores/vectors/vector-index.js';
import { audioPrefix } from './audio-keys.js';
import { purgeDocument } from './documents/document-service.js';
import type { SessionService } from './session-service.js';

/** What erasing needs. */
export interface ErasureDependencies {
  db: Repositories;
  objects: ObjectStore;
  vectors: VectorIndex;
  graph: GraphStore;
  locks: LockManager;
  sessions: SessionService;
  /** Revokes every refresh family and API key of the user and ends their sockets (after the commit; never throws). */
  revokeCredentials: (userId: string) => Promise<void>;
  /** After the account's status changed or it was removed: every node drops its copies (never throws). */
  userChanged: (userId: string, version: number) => void;
  logger: Logger;
}

/** What one deleted session took with it. */
export interface SessionErasure {
  messages: number;
  audioObjects: number;
}

/** The steps of forgetting a user, in order; each can run again without harm. */
export const ERASURE_STEPS = ['revoke', 'documents', 'graph', 'sessions', 'objects', 'audit', 'account'] as const;
export type ErasureStep = (typeof ERASURE_STEPS)[number];

/** The outcome of forgetting a user: what each step removed. */
export interface UserErasure extends ErasureRecord {
  steps: Partial<Record<ErasureStep, Record<string, number>>>;
}

const PAGE = 100;
/** Where a user's document files live (see the document service). */
export const userDocumentPrefix = (userId: string) => `documents/${userId}/`;

/**
 * Deleting a session with what belongs to it, and forgetting a user from all five stores.
 *
 * Forgetting runs as named steps recorded in `user_erasures` as they finish, so a run that
 * crashed (or a store that was down) is resumed by running it again, which starts at the
 * first unfinished step; every step is idempotent. The account is disabled and its
 * credentials revoked first, so nothing new is written while the rest goes; the row of
 * `user_erasures` stays as the record (ids and counts only), and the run is audited.
 */
export class Erasure {
  constructor(private readonly deps: ErasureDependencies) {}

  /**
   * Deletes a session, its messages (one transaction) and its audio objects. Rows go
   * first: an object a failure leaves behind is an orphan the storage reconciler removes,
   * never a message pointing at nothing.
   */
  async deleteSession(sessionId: string): Promise<SessionErasure> {
    const messages = await this.deps.db.sessions.deleteWithMessages(sessionId);
    await this.deps.sessions.forget(sessionId);
    let audioObjects = 0;
    for (const object of await this.deps.objects.list(audioPrefix(sessionId))) {
      await this.deps.objects.delete(object.key);
      audioObjects++;
    }
    return { messages, audioObjects };
  }

  /** The erasure record of a user, if one was started. */
  status(userId: string): Promise<UserErasure | undefined> {
    return this.deps.db.erasures.get(userId);
  }

  /**
   * Removes a user and everything they own: documents (files, chunks, vectors, graph
   * contributions), their remaining graph entities, sessions with messages and audio,
   * stray objects under their prefixes, credentials, and the account. NOT_FOUND for a
   * user that neither exists nor was being forgotten; a finished erasure is returned as it
   * was. `onStep` reports progress.
   */
  async forgetUser(
    userId: string,
    actor: Actor,
    onStep?: (step: ErasureStep, index: number) => void,
  ): Promise<UserErasure> {
    const existing = await this.status(userId);
    if (existing?.finishedAt !== undefined && existing.finishedAt !== null) return existing;
    if (existing === undefined) {
      if ((await this.deps.db.users.getById(userId)) === undefined)
        throw new AppError('NOT_FOUND', { message: 'user not found' });
      await this.deps.db.erasures.start(userId, actor.userId);
    }
    // A run just started has no step done; one resumed has those its record lists.
    const done = existing?.steps ?? {};
    for (const [index, step] of ERASURE_STEPS.entries()) {
      onStep?.(step, index);
      if (done[step] !== undefined) continue;
      const result = await this.run(step, userId);
      await this.deps.db.erasures.recordStep(userId, step, result);
      this.deps.logger.info({ userId, step, ...result }, 'forget-user step done');
    }
    await this.deps.db.erasures.finish(userId);
    const finished = (await this.status(userId)) as UserErasure;
    // A user who deleted their own account leaves no address behind in the record of it either.
    const recorder = actor.userId === userId ? { userId } : actor;
    await this.deps.db.audit.record(recorder, {
      action: 'user.forget',
      resourceType: 'user',
      resourceId: userId,
      details: { steps: finished.steps },
    });
    return finished;
  }

  private async run(step: ErasureStep, userId: string): Promise<Record<string, number>> {
    const { deps } = this;
    switch (step) {
      case 'revoke': {
        const user = await deps.db.users.getById(userId);
        if (user !== undefined) {
          const { version } = await deps.db.users.setStatus(userId, 'disabled');
          deps.userChanged(userId, version);
        }
        await deps.revokeCredentials(userId);
        return {};
      }
      case 'documents': {
        let documents = 0;
        for (;;) {
          const ids = await deps.db.documents.idsOfUser(userId, PAGE);
          if (ids.length === 0) return { documents };
          for (const id of ids) {
            await deps.db.documents.markDeleting(id);
            await purgeDocument({ ...deps, documents: deps.db.documents }, id);
            documents++;
          }
        }
      }
      case 'graph': {
        // What documents contributed went with them; hand-made entities remain.
        const { nodes } = await deps.graph.project(userId);
        for (const node of nodes) await deps.graph.deleteEntity(node.id);
        return { entities: nodes.length };
      }
      case 'sessions': {
        const totals = { sessions: 0, messages: 0, audioObjects: 0 };
        for (;;) {
          const ids = await deps.db.sessions.idsOfUser(userId, PAGE);
          if (ids.length === 0) return totals;
          for (const id of ids) {
            const erased = await this.deleteSession(id);
            totals.sessions++;
            totals.messages += erased.messages;
            totals.audioObjects += erased.audioObjects;
          }
        }
      }
      case 'objects': {
        let objects = 0;
        for (const object of await deps.objects.list(userDocumentPrefix(userId))) {
          await deps.objects.delete(object.key);
          objects++;
        }
        return { objects };
      }
      case 'audit': {
        // The trail of what happened stays, with nothing that points at the person.
        return { entries: await deps.db.audit.anonymise(userId) };
      }
      case 'account': {
        // Roles, refresh tokens and API keys go with the row (cascade).
        const deleted = await deps.db.users.delete(userId);
        deps.userChanged(userId, Number.MAX_SAFE_INTEGER);
        return { accounts: deleted ? 1 : 0 };
      }
    }
  }
}
