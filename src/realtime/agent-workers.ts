import { randomUUID } from 'node:crypto';
import type { AgentRevokeReason } from '../../protocol/events.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { AgentDispatch, WorkerChanges } from '../services/agents.js';
import type { Assignment } from '../stores/postgres/repositories/agents.js';
import type { AppSocket } from './dispatcher.js';

/** The most a worker's capacity multiplies its account's rate limits by. */
export const LIMIT_SCALE_MAX = 100;

/** A worker registered on this node: its socket, and the sessions it was told are its own. */
interface LocalWorker {
  workerId: string;
  agent: string;
  capacity: number;
  socket: AppSocket;
  /** Session id → epoch of the assignment pushed to the worker. */
  held: Map<string, number>;
  /**
   * Until when (performance.now()) this node may take the worker's row for alive: the start of
   * its last renewal that PostgreSQL confirmed, plus the lease. Other nodes sweep the row only
   * once PostgreSQL's clock passed its renewal time plus the lease, so the worker is told
   * `lease_lost` here before any other worker can be dispatched its sessions.
   */
  leaseUntil: number;
}

/**
 * The agent workers whose sockets are on this node: registers them, renews their rows every
 * tick, pushes `agent:dispatch` for what PostgreSQL assigned them (each assignment once, in
 * the epoch it was made) and `agent:revoked` for what they lost, and puts their sessions back
 * to dispatch when their socket goes. Every node also sweeps for workers of dead nodes.
 */
export class AgentWorkers {
  private readonly workers = new Map<string, LocalWorker>();
  private readonly bySocket = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  /** Fires when the first lease of a worker holding sessions runs out (see `armLapse`). */
  private lapseTimer: NodeJS.Timeout | undefined;
  private stopFollowing: (() => Promise<void>) | undefined;
  /** Reconciliations run one at a time: a stale read never overwrites a newer one. */
  private reconciling: Promise<void> = Promise.resolve();
  private ticking = false;

  constructor(
    private readonly dispatch: AgentDispatch,
    private readonly nodeId: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.stopFollowing = await this.dispatch.follow((changes) => this.changed(changes));
    this.timer = setInterval(() => void this.tick(), this.dispatch.timing.tickMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    clearTimeout(this.lapseTimer);
    await this.stopFollowing?.().catch(() => undefined);
  }

  /** Workers registered on this node. */
  get size(): number {
    return this.workers.size;
  }

  /** `agent:register`: the socket serves the agent; the sessions waiting for it follow the ack. */
  async register(socket: AppSocket, agent: string, capacity: number): Promise<{ workerId: string }> {
    if (this.bySocket.has(socket.id))
      throw new AppError('CONFLICT', {
        message: 'this socket already serves an agent; open another to serve one more',
      });
    const workerId = randomUUID();
    const started = performance.now();
    const worker: LocalWorker = { workerId, agent, capacity, socket, held: new Map(), leaseUntil: 0 };
    this.workers.set(workerId, worker);
    this.bySocket.set(socket.id, workerId);
    try {
      await this.dispatch.register({ workerId, agent, capacity, userId: socket.data.userId, nodeId: this.nodeId });
    } catch (error) {
      this.forget(socket);
      throw error;
    }
    worker.leaseUntil = started + this.dispatch.timing.leaseMs;
    if (!socket.connected) {
      // Gone while registering: its disconnect found nothing to unregister.
      await this.socketGone(socket, workerId);
      return { workerId };
    }
    // After the ack: what was assigned at registration is pushed as the socket's next events.
    setImmediate(() => void this.reconcile([workerId]));
    return { workerId };
  }

  /** `agent:release`: hands a session back. */
  async release(socket: AppSocket, sessionId: string): Promise<void> {
    const worker = this.workerOf(socket);
    if (worker === undefined)
      throw new AppError('FORBIDDEN', {
        message: 'only a socket that registered with agent:register releases sessions',
      });
    worker.held.delete(sessionId);
    await this.dispatch.release(worker.workerId, sessionId);
  }

  /**
   * The socket disconnected: its sessions go to other workers at once. Never throws: when
   * PostgreSQL cannot be told, the row is swept once its lease runs out, as a dead node's.
   */
  async socketGone(socket: AppSocket, known?: string): Promise<void> {
    const workerId = known ?? this.bySocket.get(socket.id);
    if (workerId === undefined) return;
    this.forget(socket);
    await this.dispatch
      .unregister(workerId)
      .catch((error: unknown) =>
        this.logger.warn({ err: error, workerId }, 'could not unregister an agent worker; it is swept after its lease'),
      );
  }

  /**
   * How many users' limits a socket's events count against (PROTOCOL section 8): the
   * sessions it registered to serve at once (`agent:register`'s capacity), at most
   * LIMIT_SCALE_MAX, so that a leaked service key is held to that much; 1 for any other socket.
   */
  limitScaleOf(socket: AppSocket): number {
    return Math.min(this.workerOf(socket)?.capacity ?? 1, LIMIT_SCALE_MAX);
  }

  private workerOf(socket: AppSocket): LocalWorker | undefined {
    const workerId = this.bySocket.get(socket.id);
    return workerId === undefined ? undefined : this.workers.get(workerId);
  }

  private forget(socket: AppSocket): void {
    const workerId = this.bySocket.get(socket.id);
    this.bySocket.delete(socket.id);
    if (workerId !== undefined) this.workers.delete(workerId);
  }

  /** Another node (or this one) dispatched or withdrew sessions. */
  private changed(changes: WorkerChanges): void {
    for (const { workerId, sessionId, agent, reason } of changes.revoked) {
      const worker = this.workers.get(workerId);
      if (worker?.held.delete(sessionId) === true) this.revoke(worker, sessionId, agent, reason);
    }
    const mine = changes.assigned.filter((id) => this.workers.has(id));
    if (mine.length > 0) void this.reconcile(mine);
  }

  private revoke(worker: LocalWorker, sessionId: string, agent: string, reason: AgentRevokeReason): void {
    worker.socket.emit('agent:revoked', { sessionId, agent, reason });
  }

  /** Pushes to these workers what PostgreSQL says they hold and they were not told, and what they lost. */
  private reconcile(workerIds: readonly string[]): Promise<void> {
    const run = this.reconciling.then(async () => {
      const ids = workerIds.filter((id) => this.workers.has(id));
      if (ids.length === 0) return;
      let assignments: Assignment[];
      try {
        assignments = await this.dispatch.heldBy(ids);
      } catch (error) {
        this.logger.warn({ err: error }, 'could not read what agent workers hold; retrying next tick');
        return;
      }
      const now = performance.now();
      const byWorker = new Map<string, Assignment[]>();
      for (const a of assignments)
        byWorker.set(a.workerId as string, [...(byWorker.get(a.workerId as string) ?? []), a]);
      for (const id of ids) {
        const worker = this.workers.get(id);
        // Unregistered meanwhile, or past its lease: what PostgreSQL says may be another's by now.
        if (worker === undefined || now > worker.leaseUntil) continue;
        const current = byWorker.get(id) ?? [];
        const sessions = new Set(current.map((a) => a.sessionId));
        for (const [sessionId] of worker.held) {
          if (!sessions.has(sessionId)) {
            worker.held.delete(sessionId);
            this.revoke(worker, sessionId, worker.agent, 'lease_lost');
          }
        }
        for (const { sessionId, agent, epoch } of current) {
          if (worker.held.get(sessionId) === epoch) continue;
          worker.held.set(sessionId, epoch);
          worker.socket.emit('agent:dispatch', { sessionId, agent, epoch });
        }
      }
      this.armLapse();
    });
    this.reconciling = run.catch(() => undefined);
    return run;
  }

  /** Every tick: renew this node's workers, drop what a lapsed lease no longer covers, sweep the cluster. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const ids = [...this.workers.keys()];
      if (ids.length > 0) {
        const started = performance.now();
        const alive = await this.dispatch.renew(ids).catch((error: unknown) => {
          this.logger.warn({ err: error }, 'could not renew agent workers');
          return undefined;
        });
        for (const id of ids) {
          const worker = this.workers.get(id);
          if (worker === undefined) continue;
          if (alive?.has(id) === true) worker.leaseUntil = started + this.dispatch.timing.leaseMs;
          else if (alive !== undefined) await this.reregister(worker);
        }
        this.dropLapsed();
        await this.reconcile(ids);
      }
      await this.dispatch
        .sweep()
        .catch((error: unknown) => this.logger.warn({ err: error }, 'agent dispatch sweep failed'));
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Sets a timer for the moment the first lease of a worker holding sessions runs out. The
   * ticks cannot be trusted with it: a tick waits for its renewal, and with PostgreSQL
   * stalled that wait outlasts the lease, while another node, whose PostgreSQL answers again
   * first, sweeps the row and dispatches the sessions (seen by the fault harness: 50 sessions
   * held by two live workers at once after a 10 s stall). Revoking at `leaseUntil`, which
   * counts from before the renewal was sent, comes before PostgreSQL's own expiry.
   */
  private armLapse(): void {
    clearTimeout(this.lapseTimer);
    let first = Number.POSITIVE_INFINITY;
    for (const worker of this.workers.values())
      if (worker.held.size > 0 && worker.leaseUntil < first) first = worker.leaseUntil;
    if (first === Number.POSITIVE_INFINITY) return;
    this.lapseTimer = setTimeout(() => this.dropLapsed(), Math.max(0, first - performance.now()));
    this.lapseTimer.unref();
  }

  /** Tells each worker whose lease ran out that it lost what it held (`lease_lost`). */
  private dropLapsed(): void {
    const now = performance.now();
    for (const worker of this.workers.values()) {
      if (now < worker.leaseUntil || worker.held.size === 0) continue;
      for (const sessionId of worker.held.keys()) this.revoke(worker, sessionId, worker.agent, 'lease_lost');
      worker.held.clear();
    }
    this.armLapse();
  }

  /**
   * The worker's row was swept (this node could not renew it in time): whatever it held may
   * be another worker's now. It is told so, and registered again under the same id.
   */
  private async reregister(worker: LocalWorker): Promise<void> {
    this.logger.warn(
      { workerId: worker.workerId },
      'an agent worker of this node was swept as dead; registering it again',
    );
    for (const sessionId of worker.held.keys()) this.revoke(worker, sessionId, worker.agent, 'lease_lost');
    worker.held.clear();
    const started = performance.now();
    try {
      await this.dispatch.register({
        workerId: worker.workerId,
        agent: worker.agent,
        capacity: worker.capacity,
        userId: worker.socket.data.userId,
        nodeId: this.nodeId,
      });
      worker.leaseUntil = started + this.dispatch.timing.leaseMs;
    } catch (error) {
      this.logger.warn({ err: error }, 'could not register an agent worker again; retrying next tick');
    }
  }
}
