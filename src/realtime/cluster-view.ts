import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { ClusterMember, ClusterNode, ClusterView } from '../../protocol/http.js';
import type { Logger } from '../logger.js';
import type { AgentDispatch } from '../services/agents.js';
import type { AppServer } from './io-server.js';
import { sessionOfRoom } from './rooms.js';

/** The server-side event one node asks every other node with (through the Socket.IO adapter). */
export const CLUSTER_VIEW_EVENT = 'vh:cluster-view';

/** What one node tells the others of itself. */
export interface NodeReport {
  node: ClusterNode;
  members: Array<{ sessionId: string; members: Omit<ClusterMember, 'nodeId'>[] }>;
}

/** Sessions one node reports at most, and the view lists at most (those with most connections). */
const MAX_SESSIONS = 500;
/** The event loop delay is reported over windows of this length. */
const LOOP_WINDOW_MS = 5_000;

/**
 * The admin's live view of the cluster (`GET /v1/admin/cluster`): every node answers for
 * itself through the Socket.IO adapter's server-side emit with acknowledgements (the Redis
 * adapter knows how many nodes listen, so the asker waits for exactly those, or the
 * timeout), as Socket.IO's own admin UI gathers sockets; PostgreSQL says which worker
 * holds each session. A lone node with the in-memory adapter answers alone.
 */
export class ClusterViewer {
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });
  private lastWindow = { mean: 0, p99: 0, max: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly io: AppServer,
    private readonly deps: { agents: AgentDispatch; workers: () => number; draining: () => boolean; logger: Logger },
    private readonly options: { nodeId: string; version: string; shared: boolean },
  ) {
    this.loop.enable();
    this.timer = setInterval(() => this.closeWindow(), LOOP_WINDOW_MS);
    this.timer.unref();
    io.on(CLUSTER_VIEW_EVENT, (ack: (report: NodeReport) => void) => ack(this.report()));
  }

  /** This node, as it reports itself. */
  report(): NodeReport {
    const namespace = this.io.of('/');
    const members: NodeReport['members'] = [];
    for (const [room, socketIds] of namespace.adapter.rooms) {
      const sessionId = sessionOfRoom(room);
      if (sessionId === undefined) continue;
      const byUser = new Map<string, Omit<ClusterMember, 'nodeId'>>();
      for (const id of socketIds) {
        const data = namespace.sockets.get(id)?.data;
        if (data?.userId === undefined) continue;
        const member = byUser.get(data.userId) ?? { userId: data.userId, role: data.role, connections: 0 };
        member.connections += 1;
        byUser.set(data.userId, member);
      }
      members.push({ sessionId, members: [...byUser.values()] });
    }
    const memory = process.memoryUsage();
    return {
      node: {
        nodeId: this.options.nodeId,
        version: this.options.version,
        startedAt: this.startedAt,
        draining: this.deps.draining(),
        sockets: namespace.sockets.size,
        sessions: members.length,
        workers: this.deps.workers(),
        eventLoopDelayMs: this.lastWindow,
        memory: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed },
      },
      members: mostConnected(members, MAX_SESSIONS),
    };
  }

  /** Every node's report, merged, with each listed session's assistant. */
  async view(): Promise<ClusterView> {
    const { reports, unanswered } = await this.gather();
    const sessions = new Map<string, ClusterMember[]>();
    for (const { node, members } of reports) {
      for (const entry of members) {
        const list = sessions.get(entry.sessionId) ?? [];
        for (const member of entry.members) list.push({ nodeId: node.nodeId, ...member });
        sessions.set(entry.sessionId, list);
      }
    }
    const listed = mostConnected(
      [...sessions].map(([sessionId, members]) => ({ sessionId, members })),
      MAX_SESSIONS,
    );
    const assignments = new Map(
      (await this.deps.agents.assignmentsOf(listed.map((s) => s.sessionId))).map((a) => [a.sessionId, a]),
    );
    return {
      nodes: reports.map((r) => r.node).sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
      sessions: listed.map(({ sessionId, members }) => {
        const held = assignments.get(sessionId);
        return {
          sessionId,
          members: members.sort((a, b) => a.nodeId.localeCompare(b.nodeId) || a.userId.localeCompare(b.userId)),
          ...(held === undefined
            ? {}
            : {
                assistant: {
                  agent: held.agent,
                  state: held.workerId === undefined ? ('waiting' as const) : ('assigned' as const),
                  ...(held.workerId === undefined ? {} : { workerId: held.workerId }),
                  ...(held.nodeId === undefined ? {} : { nodeId: held.nodeId }),
                },
              }),
        };
      }),
      truncated: sessions.size > listed.length || reports.some((r) => r.node.sessions > r.members.length),
      unanswered,
    };
  }

  close(): void {
    clearInterval(this.timer);
    this.loop.disable();
  }

  private async gather(): Promise<{ reports: NodeReport[]; unanswered: boolean }> {
    const own = this.report();
    if (!this.options.shared) return { reports: [own], unanswered: false };
    // The callback form: on a timeout it still hands over the answers that came.
    return new Promise((resolve) => {
      // The adapter waits for as many answers as it counts nodes, or its requests timeout.
      this.io.serverSideEmit(CLUSTER_VIEW_EVENT, (error: Error | null, others: unknown[] | undefined) => {
        if (error !== null) this.deps.logger.info({ err: error }, 'a node did not answer the cluster view in time');
        resolve({ reports: [own, ...((others ?? []) as NodeReport[])], unanswered: error !== null });
      });
    });
  }

  private closeWindow(): void {
    const ns = 1e6;
    this.lastWindow = {
      mean: round(this.loop.count === 0 ? 0 : this.loop.mean / ns),
      p99: round(this.loop.count === 0 ? 0 : this.loop.percentile(99) / ns),
      max: round(this.loop.count === 0 ? 0 : this.loop.max / ns),
    };
    this.loop.reset();
  }
}

function mostConnected<T extends { members: Array<{ connections: number }> }>(entries: T[], max: number): T[] {
  if (entries.length <= max) return entries;
  const weight = (entry: T) => entry.members.reduce((sum, m) => sum + m.connections, 0);
  return [...entries].sort((a, b) => weight(b) - weight(a)).slice(0, max);
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
