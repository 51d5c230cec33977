import type pg from 'pg';
import { isUuid } from '../../messages/validate-message.js';

/** A session that has an agent's worker now, or waits for one (`workerId` undefined). */
export interface Assignment {
  sessionId: string;
  agent: string;
  workerId: string | undefined;
  /** Grows with every assignment of the session: which one a worker was given. */
  epoch: number;
}

/** A registration of one socket that serves an agent. */
export interface WorkerRegistration {
  workerId: string;
  agent: string;
  userId: string;
  nodeId: string;
  capacity: number;
  /** How long the row counts as alive after each renewal: its node's lease. */
  leaseMs: number;
}

/** When a worker's row stops counting as alive (a table of workers, not of sessions: scanned whole). */
const EXPIRY = "(w.seen_at + w.lease_ms * interval '1 millisecond')";

/** Waiting sessions dispatched by one call, at most: a long queue is worked through call by call. */
const DISPATCH_BATCH = 500;

/**
 * Agent workers and the assignment of sessions to them (tables `agent_workers` and
 * `agent_assignments`, migration 0015). PostgreSQL decides every assignment, so that a
 * Redis restart or a node's death loses none and no session is ever held by two workers.
 */
export class AgentRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** Registers (or renews, after its row was swept away) a worker. */
  async register(worker: WorkerRegistration): Promise<void> {
    await this.pool.query(
      `insert into agent_workers (worker_id, agent, user_id, node_id, capacity, lease_ms) values ($1, $2, $3, $4, $5, $6)
       on conflict (worker_id) do update set seen_at = now()`,
      [worker.workerId, worker.agent, worker.userId, worker.nodeId, worker.capacity, worker.leaseMs],
    );
  }

  /** Renews these workers' rows; returns the ones that still had a row (the rest were swept as dead). */
  async renew(workerIds: readonly string[]): Promise<Set<string>> {
    if (workerIds.length === 0) return new Set();
    const result = await this.pool.query<{ worker_id: string }>(
      'update agent_workers set seen_at = now() where worker_id = any($1::uuid[]) returning worker_id',
      [workerIds],
    );
    return new Set(result.rows.map((r) => r.worker_id));
  }

  /**
   * Removes workers, chosen by `where` over `agent_workers` (alias w), and puts their sessions
   * back to waiting in the same statement; returns those sessions.
   */
  private async remove(where: string, params: unknown[]): Promise<Assignment[]> {
    const result = await this.pool.query<{ session_id: string; agent: string; epoch: string }>(
      `with gone as (delete from agent_workers w where ${where} returning w.worker_id)
       update agent_assignments a set worker_id = null, waiting_since = now()
         from gone where a.worker_id = gone.worker_id
       returning a.session_id, a.agent, a.epoch`,
      params,
    );
    return result.rows.map((r) => ({
      sessionId: r.session_id,
      agent: r.agent,
      workerId: undefined,
      epoch: Number(r.epoch),
    }));
  }

  /** A worker's socket went away: its sessions wait again (returned). */
  unregister(workerId: string): Promise<Assignment[]> {
    return this.remove('w.worker_id = $1', [workerId]);
  }

  /** Removes the workers not renewed within their lease (their node died or lost PostgreSQL); their sessions wait again. */
  sweepDead(): Promise<Assignment[]> {
    return this.remove(`${EXPIRY} < now()`, []);
  }

  /**
   * A worker hands a session back: it waits again, and is not given to that worker again.
   * False when the worker did not hold it.
   */
  async release(workerId: string, sessionId: string): Promise<Assignment | undefined> {
    if (!isUuid(sessionId)) return undefined;
    const result = await this.pool.query<{ agent: string; epoch: string }>(
      `update agent_assignments set worker_id = null, released_by = $1, waiting_since = now()
        where session_id = $2 and worker_id = $1 returning agent, epoch`,
      [workerId, sessionId],
    );
    const row = result.rows[0];
    return row === undefined
      ? undefined
      : { sessionId, agent: row.agent, workerId: undefined, epoch: Number(row.epoch) };
  }

  /**
   * Agents with a waiting session and a live worker: what a sweep dispatches. Read from the
   * live workers (a few rows), each probing the waiting sessions' index once, so that many
   * sessions waiting for an agent nobody serves cost nothing per sweep.
   */
  async dispatchable(): Promise<string[]> {
    const result = await this.pool.query<{ agent: string }>(
      `select distinct w.agent from agent_workers w
        where ${EXPIRY} > now()
          and exists (select 1 from agent_assignments a where a.agent = w.agent and a.worker_id is null)`,
    );
    return result.rows.map((r) => r.agent);
  }

  /** Assigns the agent's waiting sessions to its live workers (see migrations/functions/vh_agent_dispatch.sql). */
  async dispatch(agent: string): Promise<Assignment[]> {
    const result = await this.pool.query<{ assigned_session: string; assigned_worker: string; assigned_epoch: string }>(
      'select assigned_session, assigned_worker, assigned_epoch from vh_agent_dispatch($1, $2)',
      [agent, DISPATCH_BATCH],
    );
    return result.rows.map((r) => ({
      sessionId: r.assigned_session,
      agent,
      workerId: r.assigned_worker,
      epoch: Number(r.assigned_epoch),
    }));
  }

  /** What these workers hold now. */
  async heldBy(workerIds: readonly string[]): Promise<Assignment[]> {
    if (workerIds.length === 0) return [];
    const result = await this.pool.query<{ session_id: string; agent: string; worker_id: string; epoch: string }>(
      'select session_id, agent, worker_id, epoch from agent_assignments where worker_id = any($1::uuid[])',
      [workerIds],
    );
    return result.rows.map((r) => ({
      sessionId: r.session_id,
      agent: r.agent,
      workerId: r.worker_id,
      epoch: Number(r.epoch),
    }));
  }

  /** The assignments of these sessions (those that name an agent and are active), with the node of each worker. */
  async ofSessions(sessionIds: readonly string[]): Promise<Array<Assignment & { nodeId: string | undefined }>> {
    const ids = sessionIds.filter(isUuid);
    if (ids.length === 0) return [];
    const result = await this.pool.query<{
      session_id: string;
      agent: string;
      worker_id: string | null;
      epoch: string;
      node_id: string | null;
    }>(
      `select a.session_id, a.agent, a.worker_id, a.epoch, w.node_id
         from agent_assignments a left join agent_workers w on w.worker_id = a.worker_id
        where a.session_id = any($1::uuid[])`,
      [ids],
    );
    return result.rows.map((r) => ({
      sessionId: r.session_id,
      agent: r.agent,
      workerId: r.worker_id ?? undefined,
      epoch: Number(r.epoch),
      nodeId: r.node_id ?? undefined,
    }));
  }

  /** The session's assignment, when it names an agent and is active. */
  async of(sessionId: string): Promise<Assignment | undefined> {
    if (!isUuid(sessionId)) return undefined;
    const result = await this.pool.query<{ agent: string; worker_id: string | null; epoch: string }>(
      'select agent, worker_id, epoch from agent_assignments where session_id = $1',
      [sessionId],
    );
    const row = result.rows[0];
    return row === undefined
      ? undefined
      : { sessionId, agent: row.agent, workerId: row.worker_id ?? undefined, epoch: Number(row.epoch) };
  }

  /**
   * Follows the session's status: an archived session holds no worker (returned, when it
   * had one or waited), an active one that names an agent waits for one again.
   */
  async statusChanged(sessionId: string, active: boolean): Promise<Assignment | undefined> {
    if (!active) {
      const result = await this.pool.query<{ agent: string; worker_id: string | null; epoch: string }>(
        'delete from agent_assignments where session_id = $1 returning agent, worker_id, epoch',
        [sessionId],
      );
      const row = result.rows[0];
      return row === undefined
        ? undefined
        : { sessionId, agent: row.agent, workerId: row.worker_id ?? undefined, epoch: Number(row.epoch) };
    }
    const result = await this.pool.query<{ agent: string; epoch: string }>(
      `insert into agent_assignments (session_id, agent)
         select id, agent from sessions where id = $1 and agent is not null
       on conflict (session_id) do nothing
       returning agent, epoch`,
      [sessionId],
    );
    const row = result.rows[0];
    return row === undefined
      ? undefined
      : { sessionId, agent: row.agent, workerId: undefined, epoch: Number(row.epoch) };
  }
}
