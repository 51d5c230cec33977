import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, request, type TestSocket } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

const closed = (socket: TestSocket) =>
  new Promise<void>((resolve) => (socket.connected ? socket.once('disconnect', () => resolve()) : resolve()));
const refusal = async (url: string, token: string) =>
  (
    (await openClient(url, { token }).then(
      (socket) => {
        socket.close();
        return { message: 'connected' };
      },
      (error: unknown) => error,
    )) as Error
  ).message;

describe('taking privileges away is reliable (two nodes)', () => {
  let redis: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const proxied = await proxyFor(serviceEnv().REDIS_URL);
    redis = proxied.proxy;
    // Node 1 reaches Redis through a proxy the first test cuts.
    cluster = await TestCluster.start(1, { PRIVILEGE_SWEEP_MS: '400' });
    await cluster.addNode({ REDIS_URL: proxied.url });
  });
  afterAll(async () => {
    await redis?.up().catch(() => undefined);
    await cluster?.stop();
    await redis?.down();
  });

  async function signUp(node = 0) {
    const email = `${randomUUID()}@example.test`;
    const registered = await call(cluster.urls[node] as string, 'POST', '/v1/auth/register', {
      body: { email, username: 'u', password: 'correct horse battery' },
    });
    expect(registered.status).toBe(201);
    return {
      id: registered.body['user'].id as string,
      email,
      token: registered.body['accessToken'] as string,
      refresh: registered.body['refreshToken'] as string,
    };
  }
  const login = async (email: string, node = 0) =>
    call(cluster.urls[node] as string, 'POST', '/v1/auth/login', {
      body: { email, password: 'correct horse battery' },
    });

  it('a role change answers success though the cache cannot be dropped, and the old role is gone everywhere once it can', async () => {
    const root = await cluster.user('admin');
    const demoted = await cluster.user('admin');
    // Both nodes hold the admin role for it (in memory and in Redis).
    for (const url of cluster.urls)
      expect((await call(url, 'GET', '/v1/admin/audit-logs', { token: demoted.token })).status).toBe(200);
    await redis.down();
    try {
      const changed = await call(cluster.urls[1] as string, 'PUT', `/v1/admin/users/${demoted.id}/roles`, {
        token: root.token,
        body: { roles: [] },
      });
      expect(changed).toMatchObject({ status: 200, body: { roles: ['user'] } });
      expect(
        (await call(cluster.urls[1] as string, 'GET', '/v1/admin/audit-logs', { token: demoted.token })).status,
      ).toBe(403);
    } finally {
      await redis.up();
    }
    await eventually(
      async () =>
        expect(
          (await call(cluster.urls[0] as string, 'GET', '/v1/admin/audit-logs', { token: demoted.token })).status,
        ).toBe(403),
      20_000,
    );
  }, 40_000);

  it('ends a socket whose role changed without any broadcast reaching it (the sweep reads PostgreSQL)', async () => {
    const worker = await cluster.user('service');
    const owner = await cluster.user();
    const sessionId = await cluster.session(await cluster.connect(0, owner));
    const socket = await cluster.connect(1, worker);
    expect(await request(socket, 'session:join', { sessionId })).toMatchObject({ ok: true });
    // Straight into PostgreSQL: no cache drop, no announcement, no disconnect broadcast.
    await cluster.nodes[0]!.stores.db.users.setRoles(worker.id, [], null);
    await closed(socket);
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

  it('disables and re-enables a user: sockets on every node end, tokens and refresh families stop working, sign-in works again after', async () => {
    const root = await cluster.user('admin');
    const user = await signUp();
    const sockets = [await cluster.connect(0, user), await cluster.connect(1, user)];
    const ended = sockets.map(closed);
    const disabled = await call(cluster.urls[0] as string, 'PUT', `/v1/admin/users/${user.id}/status`, {
      token: root.token,
      body: { status: 'disabled' },
    });
    expect(disabled).toMatchObject({ status: 200, body: { userId: user.id, status: 'disabled' } });
    await Promise.all(ended);
    for (const url of cluster.urls) {
      expect((await call(url, 'GET', `/v1/sessions/${randomUUID()}/messages`, { token: user.token })).status).toBe(401);
      expect(await refusal(url, user.token)).toBe('unauthorized');
    }
    expect(
      (await call(cluster.urls[1] as string, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refresh } }))
        .status,
    ).toBe(401);
    expect((await login(user.email, 1)).status).toBe(401);
    expect(
      (
        await call(cluster.urls[1] as string, 'PUT', `/v1/admin/users/${user.id}/status`, {
          token: root.token,
          body: { status: 'enabled' },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call(cluster.urls[1] as string, 'PUT', `/v1/admin/users/${user.id}/status`, {
          token: user.token,
          body: { status: 'active' },
        })
      ).status,
    ).toBe(401);

    expect(
      (
        await call(cluster.urls[1] as string, 'PUT', `/v1/admin/users/${user.id}/status`, {
          token: root.token,
          body: { status: 'active' },
        })
      ).status,
    ).toBe(200);
    const back = await login(user.email, 0);
    expect(back.status).toBe(200);
    expect(await refusal(cluster.urls[1] as string, back.body['accessToken'])).toBe('connected');
    // The families revoked by the disable stay revoked.
    expect(
      (await call(cluster.urls[0] as string, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refresh } }))
        .status,
    ).toBe(401);
    expect(await refusal(cluster.urls[0] as string, user.token)).toBe('unauthorized');
    const audit = await call(cluster.urls[0] as string, 'GET', `/v1/admin/audit-logs?action=user.status`, {
      token: root.token,
    });
    expect(audit.body['entries'].filter((e: { resourceId: string }) => e.resourceId === user.id)).toHaveLength(2);
  });

  it("a logout ends the sockets opened with that login's tokens on every node, and only those", async () => {
    const user = await signUp();
    const other = await login(user.email, 1);
    const otherLogin = { token: other.body['accessToken'] as string };
    const mine = [await cluster.connect(0, user), await cluster.connect(1, user)];
    const theirs = await cluster.connect(1, otherLogin);
    const ended = mine.map(closed);
    expect(
      (await call(cluster.urls[1] as string, 'POST', '/v1/auth/logout', { body: { refreshToken: user.refresh } }))
        .status,
    ).toBe(204);
    await Promise.all(ended);
    expect(theirs.connected).toBe(true);
    expect(await request(theirs, 'sys:ping')).toMatchObject({ ok: true });
    for (const url of cluster.urls) {
      expect(await refusal(url, user.token)).toBe('unauthorized');
      expect((await call(url, 'GET', '/v1/documents', { token: user.token })).status).toBe(401);
      expect((await call(url, 'GET', '/v1/documents', { token: otherLogin.token })).status).toBe(200);
    }
  });
});
