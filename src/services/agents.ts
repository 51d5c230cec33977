import type { AgentRevokeReason } from '../../protocol/events.js';
import type { Session } from '../../protocol/models.js';
import type { Logger } from '../logger.js';
import { channels } from '../stores/names.js';
import type { AgentRepository, Assignment, WorkerRegistration } from '../stores/postgres/repositories/agents.js';
import { type PubSub, subscribeJson } from '../stores/pubsub/pubsub.js';
import type { Notifier } from './notifier.js';

/** What one dispatch changed for workers, announced to every node (`channels.agents`). */
export interface WorkerChanges {
  /** Workers given sessions: their nodes read what they hold and push `agent:dispatch`. */
  assigned: string[];
  /** Sessions taken from workers without their asking: their nodes push `agent:revoked`. */
  revoked: Array<{ workerId: string; sessionId: string; agent: string; reason: AgentRevokeReason }>;
}

/** The timing of dispatch, from AGENT_REDISPATCH_MS. */
export interface AgentTiming {
  /** How often each node renews its workers and sweeps for dead ones: a fifth of the redispatch bound. */
  tickMs: number;
  /**
   * A worker not renewed for this long is dead (three ticks): one late renewal is not a
   * death, and a dead worker's sessions have another within a lease and a tick.
   */
  leaseMs: number;
}

export function agentTiming(redispatchMs: number): AgentTiming {
  const tickMs = Math.floor(redispatchMs / 5);
  return { tickMs, leaseMs: tickMs * 3 };
}

/**
 * Assigns each active session that names an agent to exactly one live worker of that agent,
 * cluster-wide: PostgreSQL decides (one dispatcher of an agent at a time, see
 * `vh_agent_dispatch`), members hear `agent:status` through the notifier, and the nodes of
 * the workers concerned are told over pub/sub to look again (and each looks every tick
 * anyway, so a lost announcement delays a dispatch by a tick at most).
 */
export class AgentDispatch {
  readonly timing: AgentTiming;

  constructor(
    private readonly deps: { repo: AgentRepository; notifier: Notifier; pubsub: PubSub; logger: Logger },
    private readonly options: { redispatchMs: number; defaultAgent: string | undefined },
  ) {
    this.timing = agentTiming(options.redispatchMs);
  }

  /** The agent of a new session: the one asked for, else DEFAULT_AGENT's. */
  agentFor(requested: string | undefined): string | undefined {
    return requested ?? this.options.defaultAgent;
  }

  /** A new session: dispatched now when it names an agent; returned with its agent's status. */
  async created(session: Session): Promise<Session> {
    if (session.agent === undefined) return session;
    await this.dispatch(session.agent);
    return this.withStatus(session);
  }

  /** The session with whether a worker has it (sessions that name an agent). */
  async withStatus(session: Session): Promise<Session> {
    if (session.agent === undefined) return session;
    const assignment = await this.deps.repo.of(session.id);
    if (assignment === undefined) return session;
    return {
      ...session,
      agentStatus:
        assignment.workerId === undefined ? { state: 'waiting' } : { state: 'assigned', workerId: assignment.workerId },
    };
  }

  /** A session was archived (no worker any more) or made active again (dispatched again). */
  async statusChanged(session: Session): Promise<void> {
    if (session.agent === undefined) return;
    const change = await this.deps.repo.statusChanged(session.id, session.status === 'active');
    if (change === undefined) return;
    if (session.status === 'active') {
      this.announce([change]);
      await this.dispatch(change.agent);
    } else if (change.workerId !== undefined) {
      this.tellWorkers({
        assigned: [],
        revoked: [{ workerId: change.workerId, sessionId: session.id, agent: change.agent, reason: 'archived' }],
      });
    }
  }

  /** Before a session is deleted: what its worker must be told afterwards. */
  async beforeDelete(sessionId: string): Promise<() => void> {
    const held = await this.deps.repo.of(sessionId);
    return () => {
      if (held?.workerId === undefined) return;
      this.tellWorkers({
        assigned: [],
        revoked: [{ workerId: held.workerId, sessionId, agent: held.agent, reason: 'deleted' }],
      });
    };
  }

  /** A socket serves an agent: it takes waiting sessions at once. */
  async register(worker: Omit<WorkerRegistration, 'leaseMs'>): Promise<void> {
    await this.deps.repo.register({ ...worker, leaseMs: this.timing.leaseMs });
    await this.dispatch(worker.agent);
  }

  /** A worker's socket went away: its sessions go to other workers, or wait. */
  async unregister(workerId: string): Promise<void> {
    await this.redispatch(await this.deps.repo.unregister(workerId));
  }

  /** A worker hands a session back; false when it did not have it. */
  async release(workerId: string, sessionId: string): Promise<boolean> {
    const released = await this.deps.repo.release(workerId, sessionId);
    if (released === undefined) return false;
    await this.redispatch([released]);
    return true;
  }

  /** Renews these workers of this node; returns those that were still registered. */
  renew(workerIds: readonly string[]): Promise<Set<string>> {
    return this.deps.repo.renew(workerIds);
  }

  /** Whether a worker has each of these sessions, and on which node (the admin's cluster view). */
  assignmentsOf(sessionIds: readonly string[]): ReturnType<AgentRepository['ofSessions']> {
    return this.deps.repo.ofSessions(sessionIds);
  }

  /** What these workers hold now. */
  heldBy(workerIds: readonly string[]): Promise<Assignment[]> {
    return this.deps.repo.heldBy(workerIds);
  }

  /**
   * Every node, every tick: removes workers nobody renewed within the lease (their node
   * died), and dispatches whatever waits while a worker of its agent lives.
   */
  async sweep(): Promise<void> {
    const orphaned = await this.deps.repo.sweepDead();
    if (orphaned.length > 0)
      this.deps.logger.info({ sessions: orphaned.length }, 'dispatching the sessions of dead workers');
    this.announce(orphaned);
    for (const agent of await this.deps.repo.dispatchable()) await this.dispatch(agent);
  }

  /** Follows every node's announcements; returns how to stop. */
  follow(listener: (changes: WorkerChanges) => void): Promise<() => Promise<void>> {
    return subscribeJson<WorkerChanges>(this.deps.pubsub, channels.agents, listener);
  }

  private async redispatch(waiting: Assignment[]): Promise<void> {
    this.announce(waiting);
    for (const agent of new Set(waiting.map((a) => a.agent))) await this.dispatch(agent);
  }

  private async dispatch(agent: string): Promise<void> {
    const made = await this.deps.repo.dispatch(agent);
    if (made.length === 0) return;
    this.announce(made);
    this.tellWorkers({ assigned: [...new Set(made.map((a) => a.workerId as string))], revoked: [] });
  }

  /** Tells each session's members whether a worker has it. */
  private announce(assignments: Assignment[]): void {
    for (const { sessionId, agent, workerId } of assignments) {
      this.deps.notifier.push(
        { sessionId },
        {
          event: 'agent:status',
          payload:
            workerId === undefined
              ? { sessionId, agent, state: 'waiting' }
              : { sessionId, agent, state: 'assigned', workerId },
        },
      );
    }
  }

  private tellWorkers(changes: WorkerChanges): void {
    this.deps.pubsub
      .publish(channels.agents, JSON.stringify(changes))
      .catch((error: unknown) =>
        this.deps.logger.warn({ err: error }, 'an announcement to workers was lost; their nodes see it within a tick'),
      );
  }
}
