import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenService } from '../../src/auth/tokens.js';
import { nextEvent, openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv, TEST_JWT_SECRET } from '../helpers/env.js';
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
    // Node 1 is whole again before the next test uses it (its Redis clients reconnect with backoff).
    await eventually(
      async () => expect((await call(cluster.urls[1] as string, 'GET', '/readyz')).status).toBe(200),
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

  /** An API key of `account` (made by `admin`) and an access token for it, exchanged on node `node`. */
  async function apiKeyOf(account: { id: string }, admin: { token: string }, node = 0) {
    const created = await call(cluster.urls[0] as string, 'POST', `/v1/admin/users/${account.id}/keys`, {
      token: admin.token,
      body: { name: 'worker' },
    });
    expect(created.status).toBe(201);
    const exchanged = await call(cluster.urls[node] as string, 'POST', '/v1/auth/token', {
      body: { apiKey: created.body['key'] },
    });
    expect(exchanged.status).toBe(200);
    return { id: created.body['apiKey'].id as string, token: exchanged.body['accessToken'] as string };
  }

  it('ends the sockets of a login or an API key revoked without any announcement reaching their node, and refuses their tokens there', async () => {
    const root = await cluster.user('admin');
    const user = await signUp();
    const key = await apiKeyOf(await cluster.user('service'), root, 1);
    const sockets = [await cluster.connect(1, user), await cluster.connect(1, key)];
    const notices = sockets.map((socket) => collect(socket, 'sys:disconnect'));
    for (const token of [user.token, key.token])
      expect((await call(cluster.urls[1] as string, 'GET', '/v1/documents', { token })).status).toBe(200);

    // Straight into PostgreSQL: no marker in the cache, no announcement, no disconnect broadcast.
    const family = (await cluster.nodes[1]!.tokens.verify(user.token)).family;
    await cluster.sql().query('update refresh_tokens set revoked_at = now() where family_id = $1', [family]);
    await cluster.sql().query('update api_keys set revoked_at = now() where id = $1', [key.id]);

    const loggedOut = { reason: 'logged_out', reconnect: false };
    await eventually(() => expect(notices).toEqual([[loggedOut], [loggedOut]]));
    for (const token of [user.token, key.token]) {
      expect((await call(cluster.urls[1] as string, 'GET', '/v1/documents', { token })).status).toBe(401);
      expect(await refusal(cluster.urls[1] as string, token)).toBe('unauthorized');
    }
  });

  it('ends a socket whose access token expired with token_expired, and a fresh token connects again', async () => {
    const user = await cluster.user();
    const shortLived = await new TokenService(TEST_JWT_SECRET, 3).sign({ userId: user.id, role: 'user' });
    const socket = await cluster.connect(1, { token: shortLived });
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });
    expect(await nextEvent(socket, 'sys:disconnect')).toEqual({ reason: 'token_expired', reconnect: true });
    await closed(socket);
    expect(await refusal(cluster.urls[1] as string, shortLived)).toBe('unauthorized');
    expect(await refusal(cluster.urls[1] as string, user.token)).toBe('connected');
  });

  it("gives an API key's token the service role only, whatever else its account holds", async () => {
    const root = await cluster.user('admin');
    const account = await cluster.user('admin');
    await cluster.nodes[0]!.stores.db.users.setRoles(account.id, ['admin', 'service'], null);
    const key = await apiKeyOf(account, root, 1);
    expect(await cluster.nodes[0]!.tokens.verify(key.token)).toMatchObject({ role: 'service', kind: 'api_key' });
    for (const url of cluster.urls) {
      expect((await call(url, 'GET', '/v1/admin/audit-logs', { token: key.token })).status).toBe(403);
      // The account's own sign-in is still an admin's.
      expect((await call(url, 'GET', '/v1/admin/audit-logs', { token: account.token })).status).toBe(200);
    }

    // On a socket: a service's powers (any session), not an admin's (deleting another's session).
    const owner = await cluster.user();
    const sessionId = await cluster.session(await cluster.connect(0, owner));
    const socket = await cluster.connect(1, key);
    const joined = await request<{ presence: { userId: string; role: string }[] }>(socket, 'session:join', {
      sessionId,
    });
    expect(joined.ok && joined.data.presence).toContainEqual(
      expect.objectContaining({ userId: account.id, role: 'service' }),
    );
    expect(await request(socket, 'session:delete', { sessionId })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });

    // An account that is no longer a service cannot use its key's tokens at all.
    const ended = closed(socket);
    const changed = await call(cluster.urls[0] as string, 'PUT', `/v1/admin/users/${account.id}/roles`, {
      token: root.token,
      body: { roles: ['admin'] },
    });
    expect(changed.status).toBe(200);
    await ended;
    for (const url of cluster.urls) {
      expect((await call(url, 'GET', '/v1/documents', { token: key.token })).status).toBe(401);
      expect(await refusal(url, key.token)).toBe('unauthorized');
    }
  });
});
