import type { Socket } from 'socket.io-client';
import { waitUntil } from '../src/util/timeout.js';
import { harnessSocket } from './client.js';

/** Sessions of each round's agent, all first held by the one worker on the node the faults hit. */
const SESSIONS = 50;
/** Sessions each owner creates (session:create allows 30 a minute per user). */
const SESSIONS_PER_OWNER = 25;
const ACK_TIMEOUT_MS = 10_000;

type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: string } };

/** What the round saw of assistant dispatch. */
export interface DispatchReport {
  /** Sessions of the round's agent. */
  sessions: number;
  /**
   * From the fault (a node killed or drained: its worker's socket gone) or else from the
   * heal, until every session was held by exactly one live worker again, ms (Infinity: not
   * within the bound).
   */
  settledAfterMs: number;
  /** Dispatches of a session to a worker while another live worker still held it (must be 0). */
  overlaps: string[];
  /** Sessions with no live holder, or more than one, at the end. */
  unsettled: number;
  /** Dispatches pushed in the round (the first 50 included). */
  dispatches: number;
  /** Errors answered to the workers' registrations, by code. */
  errors: Record<string, number>;
}

/**
 * An assistant worker as the protocol asks one to behave: it registers for the agent on one
 * node, holds what `agent:dispatch` gives it until `agent:revoked` or its socket drops (a
 * dropped socket ends every assignment), and then connects to the next routable node and
 * registers again.
 */
class ChaosWorker {
  private socket: Socket | undefined;
  private stopped = false;
  /** The worker id of the current registration ('' until its ack). */
  id = '';

  constructor(
    readonly name: string,
    private readonly probe: DispatchProbe,
    private readonly token: string,
    private readonly agent: string,
    private readonly capacity: number,
    private nodeIndex: number,
  ) {}

  /** Connects and registers; resolves once registered (or the socket dropped first, when it retries by itself). */
  connect(): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopped) return resolve();
      const urls = this.probe.urls();
      const socket = harnessSocket(urls[this.nodeIndex % urls.length] as string, this.token);
      this.socket = socket;
      this.id = '';
      // Listening starts before the register: the server pushes what waits right after its ack.
      socket.on('agent:dispatch', ({ sessionId }: { sessionId: string }) => this.probe.dispatched(sessionId, this));
      socket.on('agent:revoked', ({ sessionId }: { sessionId: string }) => this.probe.revoked(sessionId, this));
      // A draining node asks its clients to move: the worker leaves (ending its assignments) and registers elsewhere.
      socket.on('sys:disconnect', ({ reconnect }: { reconnect?: boolean }) => {
        if (reconnect === true && this.socket === socket) socket.disconnect();
      });
      socket.on('connect', () => {
        socket.emit(
          'agent:register',
          { agent: this.agent, capacity: this.capacity },
          (ack: Ack<{ workerId: string }>) => {
            if (this.socket !== socket) return;
            if (ack.ok) this.id = ack.data.workerId;
            else {
              this.probe.error(`agent:register:${ack.error.code}`);
              socket.disconnect();
            }
            resolve();
          },
        );
      });
      const retry = (): void => {
        if (this.socket !== socket) return;
        this.socket = undefined;
        this.probe.gone(this);
        socket.removeAllListeners();
        socket.close();
        resolve();
        if (this.stopped) return;
        this.nodeIndex++;
        setTimeout(() => void this.connect(), 100 + Math.random() * 200);
      };
      socket.on('disconnect', retry);
      socket.on('connect_error', retry);
    });
  }

  get live(): boolean {
    return this.socket?.connected === true && this.id !== '';
  }

  stop(): void {
    this.stopped = true;
    const socket = this.socket;
    this.socket = undefined;
    socket?.removeAllListeners();
    socket?.close();
  }
}

/**
 * Assistant dispatch through a round's fault: one worker on the node the faults hit (the
 * last) takes all of a fresh agent's 50 sessions, then two workers register on the other
 * nodes. Through the fault and heal, every dispatch is checked against who holds the
 * session: a session given to a worker while another live one still holds it is an
 * overlap. The report says how soon every session had exactly one live holder again.
 */
export class DispatchProbe {
  private readonly holders = new Map<string, Set<ChaosWorker>>();
  private readonly overlaps: string[] = [];
  private readonly errors = new Map<string, number>();
  private workers: ChaosWorker[] = [];
  private sessionIds: string[] = [];
  private dispatches = 0;
  private rounds = 0;
  /** Since when every session has had exactly one live holder (undefined while one has not). */
  private settledAt: number | undefined;

  constructor(
    private readonly serviceToken: string,
    /** Registers a fresh user and resolves with its token: the owners of a round's sessions. */
    private readonly newOwner: () => Promise<string>,
    readonly urls: () => string[],
    private readonly nodeCount: number,
  ) {}

  /** Sets the round up: a fresh agent, its 50 sessions all held by the worker on the last node, two idle workers elsewhere. */
  async arm(label: string): Promise<void> {
    this.halt();
    this.errors.clear();
    const agent = `chaos-${label}-${this.rounds++}`.slice(0, 60);
    const last = this.nodeCount - 1;
    const first = new ChaosWorker('w-last', this, this.serviceToken, agent, SESSIONS, last);
    this.workers = [first];
    await first.connect();
    this.sessionIds = await this.createSessions(agent);
    const heldByFirst = await waitUntil(
      () => this.sessionIds.every((id) => this.holderList(id).includes(first)),
      30_000,
      50,
    );
    if (!heldByFirst) throw new Error(`dispatch probe: the first worker did not get all ${SESSIONS} sessions`);
    this.note();
    const others = Array.from(
      { length: this.nodeCount - 1 },
      (_, i) => new ChaosWorker(`w-${i}`, this, this.serviceToken, agent, SESSIONS, i),
    );
    this.workers.push(...others);
    await Promise.all(others.map((w) => w.connect()));
  }

  /**
   * Waits until every session has exactly one live holder (within `boundMs`) and reports;
   * `since` is when the wait's clock starts (the fault for a lost node, else the heal).
   */
  async finish(since: number, boundMs: number): Promise<DispatchReport> {
    const settled = await waitUntil(
      () => {
        this.note();
        return this.settledAt !== undefined;
      },
      boundMs,
      50,
    );
    return {
      sessions: this.sessionIds.length,
      settledAfterMs:
        settled && this.settledAt !== undefined ? Math.max(0, this.settledAt - since) : Number.POSITIVE_INFINITY,
      overlaps: [...this.overlaps],
      unsettled: this.unsettled(),
      dispatches: this.dispatches,
      errors: Object.fromEntries(this.errors),
    };
  }

  /** Closes the round's workers (their sessions wait for the next round's agent, which is another). */
  halt(): void {
    for (const worker of this.workers) worker.stop();
    this.workers = [];
    this.holders.clear();
    this.overlaps.length = 0;
    this.dispatches = 0;
    this.settledAt = undefined;
  }

  dispatched(sessionId: string, worker: ChaosWorker): void {
    this.dispatches++;
    const set = this.holders.get(sessionId) ?? new Set<ChaosWorker>();
    for (const other of set)
      if (other !== worker && other.live) this.overlaps.push(`${sessionId}: ${other.name} and ${worker.name}`);
    set.add(worker);
    this.holders.set(sessionId, set);
    this.note();
  }

  revoked(sessionId: string, worker: ChaosWorker): void {
    this.holders.get(sessionId)?.delete(worker);
    this.note();
  }

  /** A worker's socket dropped: it holds nothing any more (the protocol ends every assignment with it). */
  gone(worker: ChaosWorker): void {
    for (const set of this.holders.values()) set.delete(worker);
    this.note();
  }

  /** Records when the sessions became (or stopped being) each with one live holder, as it happens. */
  private note(): void {
    if (this.unsettled() > 0) this.settledAt = undefined;
    else this.settledAt ??= Date.now();
  }

  error(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }

  private holderList(sessionId: string): ChaosWorker[] {
    return [...(this.holders.get(sessionId) ?? [])];
  }

  private unsettled(): number {
    return this.sessionIds.filter((id) => {
      const holders = this.holderList(id).filter((w) => w.live);
      return holders.length !== 1;
    }).length;
  }

  private async createSessions(agent: string): Promise<string[]> {
    const ids: string[] = [];
    for (let made = 0; made < SESSIONS; made += SESSIONS_PER_OWNER) {
      const socket = harnessSocket(this.urls()[0] as string, await this.newOwner());
      try {
        ids.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(SESSIONS_PER_OWNER, SESSIONS - made) }, async (_, i) => {
              const answer = (await socket
                .timeout(ACK_TIMEOUT_MS)
                .emitWithAck('session:create', { title: `dispatch ${made + i}`, agent })) as Ack<{
                session: { id: string };
              }>;
              if (!answer.ok) throw new Error(`dispatch probe: session:create answered ${answer.error.code}`);
              return answer.data.session.id;
            }),
          )),
        );
      } finally {
        socket.close();
      }
    }
    return ids;
  }

  close(): void {
    this.halt();
  }
}
