import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';

describe('a role change takes effect at once, on every node', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  const call = async (node: number, method: string, path: string, token: string, body?: unknown) => {
    const response = await fetch(`${cluster.urls[node]}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return response.status;
  };

  it('a demoted admin is refused with the token it still holds', async () => {
    const [root, demoted] = [await cluster.user('admin'), await cluster.user('admin')];
    expect(await call(1, 'GET', '/v1/admin/audit-logs', demoted.token)).toBe(200);
    expect(await call(0, 'PUT', `/v1/admin/users/${demoted.id}/roles`, root.token, { roles: [] })).toBe(200);
    expect(await call(1, 'GET', '/v1/admin/audit-logs', demoted.token)).toBe(403);
    expect(await call(0, 'GET', '/v1/admin/audit-logs', demoted.token)).toBe(403);
    // A promotion works the same way, without a new token.
    expect(await call(0, 'PUT', `/v1/admin/users/${demoted.id}/roles`, root.token, { roles: ['admin'] })).toBe(200);
    expect(await call(1, 'GET', '/v1/admin/audit-logs', demoted.token)).toBe(200);
  });

  it("ends the user's open sockets on every node, and the reconnected socket has the new role", async () => {
    const [root, owner, worker] = [await cluster.user('admin'), await cluster.user(), await cluster.user('service')];
    const sessionId = await cluster.session(await cluster.connect(0, owner));
    const onOtherNode = await cluster.connect(1, worker);
    const onSameNode = await cluster.connect(0, worker);
    expect((await request(onOtherNode, 'session:join', { sessionId })).ok).toBe(true);
    const closed = [onOtherNode, onSameNode].map(
      (socket) => new Promise((resolve) => socket.once('disconnect', resolve)),
    );

    expect(await call(0, 'PUT', `/v1/admin/users/${worker.id}/roles`, root.token, { roles: [] })).toBe(200);
    await Promise.all(closed);
    await eventually(() => expect(onOtherNode.connected || onSameNode.connected).toBe(false));

    const again = await openClient(cluster.urls[1] as string, { token: worker.token });
    try {
      expect(await request(again, 'session:join', { sessionId })).toMatchObject({
        ok: false,
        error: { code: 'FORBIDDEN' },
      });
    } finally {
      again.close();
    }
  });
});
