import type { AckData } from '../../protocol/events.js';
import type { AgentDispatch } from './agents.js';
import type { Erasure } from './erasure.js';
import type { Notifier } from './notifier.js';
import type { Caller, SessionService } from './session-service.js';

/** What deleting a session needs. */
export interface DeleteSessionDeps {
  sessions: SessionService;
  erasure: Erasure;
  notifier: Notifier;
  agents: AgentDispatch;
}

/**
 * Deletes a session of the caller (admins: any) with its messages and audio, audits it, and
 * tells every member, on every node, with `session:deleted`. Shared by `session:delete` and
 * `DELETE /v1/sessions/:id`.
 */
export async function deleteSession(
  deps: DeleteSessionDeps,
  caller: Caller,
  sessionId: string,
): Promise<AckData['session:delete']> {
  await deps.sessions.authorizeOwner(caller, sessionId);
  const tellWorker = await deps.agents.beforeDelete(sessionId);
  const erased = await deps.erasure.deleteSession(sessionId);
  tellWorker();
  await deps.sessions.recordAudit(caller, {
    action: 'session.delete',
    resourceType: 'session',
    resourceId: sessionId,
    details: { ...erased },
  });
  deps.notifier.push({ sessionId }, { event: 'session:deleted', payload: { sessionId } });
  return { sessionId, ...erased };
}
