import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterView } from '../../protocol/http.js';
import type { Session } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';

describe("the admins' cluster view (two nodes)", () => {
  let cluster: TestCluster;
  let admin: { id: string; token: string };

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
    admin = await cluster.user('admin');
  });
  afterAll(() => cluster?.stop());

  async function view(node: number, token = admin.token): Promise<Response> {
    return fetch(`${cluster.urls[node]}/v1/admin/cluster`, { headers: { authorization: `Bearer ${token}` } });
  }

  it('shows every node, the members of a session by node, and which worker on which node has it', async () => {
    const owner = await cluster.user();
    const service = await cluster.user('service');
    const agent = `view-${Date.now().toString(36)}`;
    const worker = await cluster.connect(1, service);
    const registered = await request<{ workerId: string }>(worker, 'agent:register', { agent });
    expect(registered.ok).toBe(true);
    const workerId = registered.ok ? registered.data.workerId : '';

    const phone = await cluster.connect(0, owner);
    const created = await request<{ session: Session }>(phone, 'session:create', { title: 'viewed', agent });
    if (!created.ok) throw new Error(JSON.stringify(created.error));
    const sessionId = created.data.session.id;
    const laptop = await cluster.connect(1, owner);
    const laptop2 = await cluster.connect(1, owner);
    for (const socket of [laptop, laptop2, worker]) {
      expect(await request(socket, 'session:join', { sessionId })).toMatchObject({ ok: true });
    }

    const nodeIds = cluster.nodes.map((app) => app.config.nodeId).sort();
    // Asked on either node, the view is the same cluster.
    for (const node of [0, 1]) {
      await eventually(async () => {
        const response = await view(node);
        expect(response.status).toBe(200);
        const body = (await response.json()) as ClusterView;
        expect(body.unanswered).toBe(false);
        expect(body.nodes.map((n) => n.nodeId)).toEqual(nodeIds);
        for (const n of body.nodes) {
          expect(n).toMatchObject({ draining: false, version: expect.any(String) });
          expect(n.memory.rssBytes).toBeGreaterThan(0);
        }
        // By the node each socket connected to (node ids sort in no particular order).
        const [first, second] = [
          body.nodes.find((n) => n.nodeId === cluster.nodes[0]?.config.nodeId),
          body.nodes.find((n) => n.nodeId === cluster.nodes[1]?.config.nodeId),
        ];
        expect(first?.sockets).toBeGreaterThanOrEqual(1);
        expect(second?.workers).toBe(1);
        const session = body.sessions.find((s) => s.sessionId === sessionId);
        expect(session?.members).toEqual(
          [
            { nodeId: cluster.nodes[0]?.config.nodeId, userId: owner.id, role: 'user', connections: 1 },
            { nodeId: cluster.nodes[1]?.config.nodeId, userId: owner.id, role: 'user', connections: 2 },
            { nodeId: cluster.nodes[1]?.config.nodeId, userId: service.id, role: 'service', connections: 1 },
          ].sort((a, b) => (a.nodeId as string).localeCompare(b.nodeId as string) || a.userId.localeCompare(b.userId)),
        );
        expect(session?.assistant).toEqual({
          agent,
          state: 'assigned',
          workerId,
          nodeId: cluster.nodes[1]?.config.nodeId,
        });
      }, 30_000);
    }

    // A member who leaves is gone from the view.
    expect(await request(phone, 'session:leave', { sessionId })).toMatchObject({ ok: true });
    await eventually(async () => {
      const body = (await (await view(1)).json()) as ClusterView;
      const session = body.sessions.find((s) => s.sessionId === sessionId);
      expect(session?.members.map((m) => m.nodeId)).not.toContain(cluster.nodes[0]?.config.nodeId);
    });
  }, 90_000);

  it('is for admins only', async () => {
    const user = await cluster.user();
    expect((await view(0, user.token)).status).toBe(403);
    expect((await fetch(`${cluster.urls[0]}/v1/admin/cluster`)).status).toBe(401);
  });
});
