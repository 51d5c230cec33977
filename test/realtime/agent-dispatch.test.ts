import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ack } from '../../protocol/errors.js';
import type { Session } from '../../protocol/models.js';
import { openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

type Dispatch = { sessionId: string; agent: string; epoch: number };
type Revoked = { sessionId: string; agent: string; reason: string };
type Status = { sessionId: string; agent: string; state: 'waiting' | 'assigned'; workerId?: string };

/** An agent name of this test's own: the nodes of every test share one database. */
function agentName(): string {
  return `agent-${randomUUID().slice(0, 8)}`;
}

/**
 * Who holds each session, as the workers were told: a dispatch adds its worker, a
 * revocation or the worker's end removes it. Two holders of one session at any moment fail
 * the test (`overlaps`).
 */
class Holdings {
  readonly holders = new Map<string, Set<string>>();
  readonly overlaps: string[] = [];
  readonly dispatches: Array<Dispatch & { workerId: string }> = [];

  /**
   * Records what `socket` is told, as the worker `workerOf()` names: listening starts before
   * the socket registers, since the server pushes what waits right after the ack (both can
   * arrive in one read, the push before the awaiting code runs again).
   */
  follow(workerOf: () => string, socket: TestSocket): void {
    socket.on('agent:dispatch', (d: Dispatch) => {
      const workerId = workerOf();
      this.dispatches.push({ ...d, workerId });
      const set = this.holders.get(d.sessionId) ?? new Set<string>();
      set.add(workerId);
      this.holders.set(d.sessionId, set);
      if (set.size > 1) this.overlaps.push(`${d.sessionId}: ${[...set].join(', ')}`);
    });
    socket.on('agent:revoked', (r: Revoked) => this.holders.get(r.sessionId)?.delete(workerOf()));
    socket.on('disconnect', () => this.gone(workerOf()));
  }

  gone(workerId: string): void {
    for (const set of this.holders.values()) set.delete(workerId);
  }

  holderOf(sessionId: string): string[] {
    return [...(this.holders.get(sessionId) ?? [])];
  }

  loadOf(workerId: string): number {
    return [...this.holders.values()].filter((set) => set.has(workerId)).length;
  }
}

describe('assistant dispatch (two nodes)', () => {
  let cluster: TestCluster;
  let service: { id: string; token: string };
  let owner: { id: string; token: string };

  beforeAll(async () => {
    // Leases of 1.8 s: with 1 s (a 600 ms lease), a loaded machine's late renewals let a
    // lease run out now and then, and the node rightly tells its worker lease_lost, which
    // the exact expectations of these tests do not allow for.
    cluster = await TestCluster.start(2, { AGENT_REDISPATCH_MS: '3000' });
    service = await cluster.user('service');
    owner = await cluster.user();
  });
  afterAll(() => cluster?.stop());

  /** A worker socket on `node` registered for `agent`. */
  async function worker(
    holdings: Holdings,
    node: number,
    agent: string,
    capacity?: number,
  ): Promise<{ socket: TestSocket; workerId: string }> {
    return registered(holdings, await cluster.connect(node, service), agent, capacity);
  }

  /** Registers `socket` for `agent`, its pushes followed from before the ack. */
  async function registered(
    holdings: Holdings,
    socket: TestSocket,
    agent: string,
    capacity?: number,
  ): Promise<{ socket: TestSocket; workerId: string }> {
    let workerId = '';
    holdings.follow(() => workerId, socket);
    // The id is taken in the ack callback itself, before any event that follows the ack.
    const ack = await new Promise<Ack<{ workerId: string }>>((resolve) =>
      socket.emit(
        'agent:register',
        { agent, ...(capacity === undefined ? {} : { capacity }) },
        (answer: Ack<{ workerId: string }>) => {
          if (answer.ok) workerId = answer.data.workerId;
          resolve(answer);
        },
      ),
    );
    if (!ack.ok) throw new Error(`agent:register failed: ${JSON.stringify(ack.error)}`);
    return { socket, workerId };
  }

  async function createSession(socket: TestSocket, agent?: string): Promise<Session> {
    const ack = await request<{ session: Session }>(socket, 'session:create', {
      title: 'dispatch',
      ...(agent === undefined ? {} : { agent }),
    });
    if (!ack.ok) throw new Error(`session:create failed: ${JSON.stringify(ack.error)}`);
    return ack.data.session;
  }

  async function sessionOverHttp(node: number, sessionId: string): Promise<Session> {
    const response = await fetch(`${cluster.urls[node]}/v1/sessions/${sessionId}`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { session: Session }).session;
  }

  it('lets only services register, once a socket, with a valid agent name', async () => {
    const user = await cluster.connect(0, owner);
    expect(await request(user, 'agent:register', { agent: 'assistant' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    const socket = await cluster.connect(1, service);
    for (const payload of [{ agent: 'Has Spaces' }, { agent: '' }, { agent: 'ok', capacity: 0 }, {}]) {
      expect(await request(socket, 'agent:register', payload)).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION' },
      });
    }
    expect(await request(socket, 'agent:register', { agent: agentName() })).toMatchObject({ ok: true });
    expect(await request(socket, 'agent:register', { agent: agentName() })).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT' },
    });
    // Releasing is for workers, and for sessions they hold.
    expect(await request(user, 'agent:release', { sessionId: randomUUID() })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    expect(await request(socket, 'agent:release', { sessionId: randomUUID() })).toEqual({ ok: true, data: {} });
  });

  it("gives each session to exactly one worker, the least loaded, never past capacity; the rest wait; members and the session's views say which", async () => {
    const agent = agentName();
    const holdings = new Holdings();
    const a = await worker(holdings, 0, agent, 2);
    const b = await worker(holdings, 1, agent, 2);
    const member = await cluster.connect(1, owner);
    const statuses = collect<Status>(member, 'agent:status');

    const sessions: Session[] = [];
    for (let i = 0; i < 5; i++) sessions.push(await createSession(member, agent));
    await eventually(() => expect(holdings.dispatches).toHaveLength(4));
    expect(holdings.loadOf(a.workerId)).toBe(2);
    expect(holdings.loadOf(b.workerId)).toBe(2);
    for (const s of sessions.slice(0, 4)) expect(holdings.holderOf(s.id)).toHaveLength(1);
    // Least loaded: the first two sessions went to different workers.
    expect(holdings.holderOf(sessions[0]?.id as string)).not.toEqual(holdings.holderOf(sessions[1]?.id as string));

    // The fifth waits: both workers are full.
    const fifth = sessions[4] as Session;
    expect(fifth).toMatchObject({ agent, agentStatus: { state: 'waiting' } });
    expect(holdings.holderOf(fifth.id)).toEqual([]);
    expect((await sessionOverHttp(0, fifth.id)).agentStatus).toEqual({ state: 'waiting' });

    // The views of an assigned session agree with what its worker was told, on either node.
    const first = sessions[0] as Session;
    const holder = holdings.holderOf(first.id)[0];
    expect(first.agentStatus).toEqual({ state: 'assigned', workerId: holder });
    expect((await sessionOverHttp(0, first.id)).agentStatus).toEqual({ state: 'assigned', workerId: holder });
    const joined = await request<{ session: Session }>(await cluster.connect(0, owner), 'session:join', {
      sessionId: first.id,
    });
    expect(joined).toMatchObject({
      ok: true,
      data: { session: { agent, agentStatus: { state: 'assigned', workerId: holder } } },
    });

    // A third worker takes the waiting one at once.
    const c = await worker(holdings, 0, agent, 5);
    await eventually(() => expect(holdings.holderOf(fifth.id)).toEqual([c.workerId]));
    await eventually(() =>
      expect(statuses).toContainEqual({ sessionId: fifth.id, agent, state: 'assigned', workerId: c.workerId }),
    );
    expect(holdings.overlaps).toEqual([]);
    // Each assignment was pushed once.
    expect(new Set(holdings.dispatches.map((d) => d.sessionId)).size).toBe(holdings.dispatches.length);
  });

  it('dispatches sessions created over HTTP, and waits while no worker of the agent lives', async () => {
    const agent = agentName();
    const holdings = new Holdings();
    const response = await fetch(`${cluster.urls[1]}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'over http', agent }),
    });
    expect(response.status).toBe(201);
    const { session } = (await response.json()) as { session: Session };
    expect(session).toMatchObject({ title: 'over http', agent, agentStatus: { state: 'waiting' } });
    const bad = await fetch(`${cluster.urls[1]}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${owner.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'NOT OK' }),
    });
    expect(bad.status).toBe(400);
    // A session without an agent has no agent status at all.
    const plain = await createSession(await cluster.connect(0, owner));
    expect(plain.agent).toBeUndefined();
    expect(plain.agentStatus).toBeUndefined();

    const late = await worker(holdings, 0, agent);
    await eventually(() => expect(holdings.holderOf(session.id)).toEqual([late.workerId]));
    expect((await sessionOverHttp(1, session.id)).agentStatus).toEqual({ state: 'assigned', workerId: late.workerId });
  });

  it("gives a disconnected worker's sessions to another worker, once, and a released session never back to its releaser", async () => {
    const agent = agentName();
    const holdings = new Holdings();
    const a = await worker(holdings, 0, agent);
    const member = await cluster.connect(0, owner);
    const sessions = [await createSession(member, agent), await createSession(member, agent)];
    await eventually(() => expect(holdings.loadOf(a.workerId)).toBe(2));
    const b = await worker(holdings, 1, agent);

    a.socket.close();
    await eventually(() => expect(holdings.loadOf(b.workerId)).toBe(2));
    for (const s of sessions) expect(holdings.holderOf(s.id)).toEqual([b.workerId]);

    // b hands one back: with no other worker it waits, and goes to the next that registers.
    const released = sessions[0] as Session;
    expect(await request(b.socket, 'agent:release', { sessionId: released.id })).toEqual({ ok: true, data: {} });
    holdings.holders.get(released.id)?.delete(b.workerId);
    await eventually(async () =>
      expect((await sessionOverHttp(0, released.id)).agentStatus).toEqual({ state: 'waiting' }),
    );
    const c = await worker(holdings, 0, agent);
    await eventually(() => expect(holdings.holderOf(released.id)).toEqual([c.workerId]));
    expect(holdings.dispatches.filter((d) => d.sessionId === released.id).map((d) => d.workerId)).toEqual([
      a.workerId,
      b.workerId,
      c.workerId,
    ]);
    expect(holdings.overlaps).toEqual([]);
  });

  it('tells a worker when its session is archived or deleted, and dispatches an archived session again once active', async () => {
    const agent = agentName();
    const holdings = new Holdings();
    const w = await worker(holdings, 1, agent);
    const revoked = collect<Revoked>(w.socket, 'agent:revoked');
    const member = await cluster.connect(0, owner);
    const archived = await createSession(member, agent);
    const deleted = await createSession(member, agent);
    await eventually(() => expect(holdings.loadOf(w.workerId)).toBe(2));

    expect(await request(member, 'session:update', { sessionId: archived.id, status: 'archived' })).toMatchObject({
      ok: true,
    });
    await eventually(() => expect(revoked).toContainEqual({ sessionId: archived.id, agent, reason: 'archived' }));
    expect(await request(member, 'session:delete', { sessionId: deleted.id })).toMatchObject({ ok: true });
    await eventually(() => expect(revoked).toContainEqual({ sessionId: deleted.id, agent, reason: 'deleted' }));
    expect((await sessionOverHttp(0, archived.id)).agentStatus).toBeUndefined();

    expect(await request(member, 'session:update', { sessionId: archived.id, status: 'active' })).toMatchObject({
      ok: true,
    });
    await eventually(() => expect(holdings.dispatches.filter((d) => d.sessionId === archived.id)).toHaveLength(2));
    expect(holdings.holderOf(archived.id)).toEqual([w.workerId]);
  });

  it("re-dispatches the sessions of a SIGKILLed node's workers, racing registrations and kills, never two holders at once", async () => {
    const agent = agentName();
    const holdings = new Holdings();
    const doomed = await cluster.spawnNode();
    const member = await cluster.connect(0, owner);
    // Workers on the node to be killed, registering while sessions are being created on both nodes.
    const doomedWorkers = await Promise.all(
      [0, 1, 2].map(async () => {
        return registered(holdings, await openClient(doomed.url, { token: service.token }), agent, 4);
      }),
    );
    const created = await Promise.all(
      Array.from({ length: 8 }, (_, i) => createSession(i % 2 === 0 ? member : member, agent)),
    );
    await eventually(() => expect(holdings.dispatches.length).toBe(8));

    // Survivors register on both nodes while the node dies.
    const [survivors] = await Promise.all([
      Promise.all([worker(holdings, 0, agent, 4), worker(holdings, 1, agent, 4), worker(holdings, 1, agent, 4)]),
      (async () => {
        doomed.process.kill('SIGKILL');
        for (const w of doomedWorkers) holdings.gone(w.workerId);
      })(),
    ]);
    // Sessions created during the outage are dispatched too.
    created.push(...(await Promise.all([createSession(member, agent), createSession(member, agent)])));

    const survivorIds = new Set(survivors.map((s) => s.workerId));
    await eventually(() => {
      for (const s of created) {
        const holders = holdings.holderOf(s.id);
        expect(holders).toHaveLength(1);
        expect(survivorIds.has(holders[0] as string)).toBe(true);
      }
    }, 15_000);
    for (const s of survivors) expect(holdings.loadOf(s.workerId)).toBeLessThanOrEqual(4);
    expect(holdings.overlaps).toEqual([]);
    for (const w of doomedWorkers) w.socket.close();
  });
});

describe('DEFAULT_AGENT', () => {
  let cluster: TestCluster;
  const agent = agentName();

  beforeAll(async () => {
    cluster = await TestCluster.start(1, { DEFAULT_AGENT: agent });
  });
  afterAll(() => cluster?.stop());

  it('names the agent of sessions created without one; a session may name another', async () => {
    const socket = await cluster.connect(0, await cluster.user());
    const ack = await request<{ session: Session }>(socket, 'session:create', { title: 'default' });
    expect(ack).toMatchObject({ ok: true, data: { session: { agent, agentStatus: { state: 'waiting' } } } });
    const other = await request<{ session: Session }>(socket, 'session:create', { agent: 'someone-else' });
    expect(other).toMatchObject({ ok: true, data: { session: { agent: 'someone-else' } } });
  });
});

describe('assistant dispatch when a node loses PostgreSQL (two nodes, the second behind a proxy that stalls)', () => {
  let cluster: TestCluster;
  let proxy: TcpProxy;

  beforeAll(async () => {
    const forwarded = await proxyFor(serviceEnv().DATABASE_URL);
    proxy = forwarded.proxy;
    cluster = await TestCluster.start(1, { AGENT_REDISPATCH_MS: '1000' });
    await cluster.addNode({ DATABASE_URL: forwarded.url, AGENT_REDISPATCH_MS: '1000' });
  });
  afterAll(async () => {
    proxy?.unstall();
    await cluster?.stop();
    await proxy?.down();
  });

  it("tells its worker lease_lost before another node's worker is dispatched that worker's session", async () => {
    const agent = agentName();
    const service = await cluster.user('service');
    const owner = await cluster.user();
    // What the two workers are told, in the order this process hears it.
    const heard: string[] = [];
    const stalled = await cluster.connect(1, service);
    const first = collect<Dispatch>(stalled, 'agent:dispatch');
    stalled.on('agent:revoked', (r: Revoked) => heard.push(`revoked ${r.sessionId} ${r.reason}`));
    expect(await request(stalled, 'agent:register', { agent })).toMatchObject({ ok: true });
    const member = await cluster.connect(0, owner);
    const created = await request<{ session: Session }>(member, 'session:create', { title: 'stall', agent });
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    const sessionId = created.data.session.id;
    await eventually(() => expect(first.map((d) => d.sessionId)).toContain(sessionId));

    const other = await cluster.connect(0, service);
    other.on('agent:dispatch', (d: Dispatch) => heard.push(`dispatched ${d.sessionId}`));
    expect(await request(other, 'agent:register', { agent })).toMatchObject({ ok: true });
    // The second node's renewals now hang (longer than the lease), while the first node,
    // whose PostgreSQL answers, sweeps the lapsed row and dispatches the session again.
    proxy.stall();
    try {
      await eventually(() => expect(heard).toContain(`dispatched ${sessionId}`), 15_000);
    } finally {
      proxy.unstall();
    }
    const revokedAt = heard.indexOf(`revoked ${sessionId} lease_lost`);
    expect(revokedAt, heard.join(', ')).toBeGreaterThanOrEqual(0);
    expect(revokedAt, heard.join(', ')).toBeLessThan(heard.indexOf(`dispatched ${sessionId}`));
  });
});
