import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { nextEvent, openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, TestCluster } from '../helpers/cluster.js';
import { testPool } from '../helpers/database.js';
import { clusterConfig, TEST_JWT_SECRET } from '../helpers/env.js';

describe('a cluster node on the real services', () => {
  let app: App;
  let baseUrl: string;
  let token: string;
  const sql = testPool();
  const clients: TestSocket[] = [];

  const connectAs = async (auth: Record<string, unknown> | undefined) => {
    const socket = await openClient(baseUrl, auth);
    clients.push(socket);
    return socket;
  };
  const client = () => connectAs({ token });

  beforeAll(async () => {
    app = await buildApp(clusterConfig());
    const { port } = await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${port}`;
    const user = await app.stores.db.users.create({
      email: `${randomUUID()}@example.test`,
      username: 'node',
      passwordHash: 'unused',
    });
    token = await app.tokens.sign({ userId: user.id, role: 'user' });
  });
  afterAll(async () => {
    clients.forEach((socket) => socket.close());
    await app?.close();
    await sql.end();
  });

  it('serves /healthz', async () => {
    const response = await fetch(`${baseUrl}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok', nodeId: app.config.nodeId });
  });

  it('reports every dependency as an external service that is up in /readyz', async () => {
    const response = await fetch(`${baseUrl}/readyz`);
    const body = (await response.json()) as {
      status: string;
      dependencies: Record<string, { status: string; mode: string; latencyMs: number }>;
    };
    expect(response.status).toBe(200);
    expect(body.status).toBe('ready');
    expect(Object.keys(body.dependencies).sort()).toEqual(['graph', 'objects', 'postgres', 'redis', 'vector']);
    for (const dependency of Object.values(body.dependencies)) {
      expect(dependency).toMatchObject({ status: 'up', mode: 'external' });
      expect(dependency.latencyMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('answers unknown routes with the error envelope', async () => {
    const response = await fetch(`${baseUrl}/v1/nothing-here`);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'NOT_FOUND' } });
  });

  it.each([
    ['no auth at all', undefined],
    ['no token', {}],
    ['a token that is not a string', { token: 42 }],
    ['garbage', { token: 'not-a-jwt' }],
  ])('refuses a handshake with %s: connect_error unauthorized / UNAUTHORIZED', async (_label, auth) => {
    const error = (await connectAs(auth).catch((e: unknown) => e)) as Error & { data?: { code?: string } };
    expect(error.message).toBe('unauthorized');
    expect(error.data?.code).toBe('UNAUTHORIZED');
  });

  it('refuses forged and expired tokens', async () => {
    const forged = await new SignJWT({ role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('voicehelper')
      .setAudience('voicehelper:access')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-0123'));
    const expired = await new SignJWT({ role: 'user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('u')
      .setIssuer('voicehelper')
      .setAudience('voicehelper:access')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(TEST_JWT_SECRET));
    for (const bad of [forged, expired]) {
      const error = (await connectAs({ token: bad }).catch((e: unknown) => e)) as Error & { data?: { code?: string } };
      expect(error.data?.code).toBe('UNAUTHORIZED');
    }
  });

  it('refuses a valid token whose user no longer exists or is disabled', async () => {
    const ghost = await app.tokens.sign({ userId: randomUUID(), role: 'admin' });
    const error = (await connectAs({ token: ghost }).catch((e: unknown) => e)) as Error & { data?: { code?: string } };
    expect(error.data?.code).toBe('UNAUTHORIZED');
    const user = await app.stores.db.users.create({
      email: `${randomUUID()}@example.test`,
      username: 'gone',
      passwordHash: 'unused',
    });
    await sql.query("update users set status = 'disabled' where id = $1", [user.id]);
    const disabled = await app.tokens.sign({ userId: user.id, role: 'user' });
    const refused = (await connectAs({ token: disabled }).catch((e: unknown) => e)) as Error & {
      data?: { code?: string };
    };
    expect(refused.data?.code).toBe('UNAUTHORIZED');
  });

  it('acks a known event with the ok envelope', async () => {
    const socket = await client();
    const ack = await request(socket, 'sys:ping', {});
    expect(ack).toMatchObject({ ok: true, data: { nodeId: app.config.nodeId } });
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });
  });

  it('answers unknown events and bad payloads with VALIDATION, and keeps the socket usable', async () => {
    const socket = await client();
    expect(await request(socket, 'no:such-event', {})).toEqual({
      ok: false,
      error: { code: 'VALIDATION', message: 'unknown event', details: { event: 'no:such-event' } },
    });
    const bad = await request(socket, 'sys:ping', { unexpected: true });
    expect(bad).toMatchObject({ ok: false, error: { code: 'VALIDATION', details: { issues: [expect.any(Object)] } } });
    for (const payload of [null, 12, 'text', [1, 2], JSON.parse('{"__proto__":{"polluted":true}}')]) {
      const ack = await request(socket, 'sys:ping', payload);
      expect(ack.ok).toBe(false);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });
  });

  it('reports the failure of an event sent without a callback as an error event', async () => {
    const socket = await client();
    const failure = nextEvent<{ event: string; error: { code: string } }>(socket, 'error');
    socket.emit('no:callback-here', { a: 1 });
    expect(await failure).toEqual({
      event: 'no:callback-here',
      error: { code: 'VALIDATION', message: 'unknown event', details: { event: 'no:callback-here' } },
    });
  });

  it('drops a client whose packet exceeds 1 MiB, and serves the others', async () => {
    const big = await client();
    const other = await client();
    const dropped = nextEvent(big, 'disconnect');
    big.emit('sys:ping', { blob: 'x'.repeat(1024 * 1024 + 10) });
    await dropped;
    expect(await request(other, 'sys:ping')).toMatchObject({ ok: true });
  });

  it('exposes Prometheus metrics with connection and event counters', async () => {
    const response = await fetch(`${baseUrl}/metrics`);
    const text = await response.text();
    expect(response.headers.get('content-type')).toContain('text/plain');
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toMatch(/voicehelper_socket_connections\{node="[^"]+"\} \d+/);
    expect(text).toMatch(/voicehelper_socket_events_total\{event="sys:ping",outcome="ok",node="[^"]+"\} [1-9]/);
    expect(text).toMatch(/voicehelper_socket_events_total\{event="unknown",outcome="VALIDATION",node="[^"]+"\} [1-9]/);
    expect(text).toMatch(/voicehelper_socket_handshakes_total\{outcome="unauthorized",node="[^"]+"\} [1-9]/);
    expect(text).toMatch(
      /voicehelper_http_requests_total\{method="GET",route="\/healthz",status="200",node="[^"]+"\} [1-9]/,
    );
  });
});

describe('readiness with a required dependency down', () => {
  it('answers /readyz 503 naming the dependency, while /healthz stays 200', async () => {
    // Neo4j on a port where nothing listens, and declared required.
    const app = await buildApp(
      clusterConfig({ NEO4J_URI: 'bolt://127.0.0.1:1', READINESS_OPTIONAL: 'vector', DEPENDENCY_TIMEOUT_MS: '500' }),
    );
    try {
      const { port } = await app.listen(0, '127.0.0.1');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      const body = (await ready.json()) as {
        status: string;
        dependencies: Record<string, { status: string; required: boolean }>;
      };
      expect(ready.status).toBe(503);
      expect(body.status).toBe('unavailable');
      expect(body.dependencies['graph']).toMatchObject({ status: 'down', required: true });
      expect(body.dependencies['postgres']).toMatchObject({ status: 'up' });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('stays ready when only an optional dependency is down', async () => {
    const app = await buildApp(clusterConfig({ NEO4J_URI: 'bolt://127.0.0.1:1', DEPENDENCY_TIMEOUT_MS: '500' }));
    try {
      const { port } = await app.listen(0, '127.0.0.1');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      const body = (await ready.json()) as { dependencies: Record<string, { status: string; required: boolean }> };
      expect(ready.status).toBe(200);
      expect(body.dependencies['graph']).toMatchObject({ status: 'down', required: false });
    } finally {
      await app.close();
    }
  });
});

describe('draining', () => {
  it("closes only its own clients, not the other nodes' (the adapter broadcasts disconnects)", async () => {
    const cluster = await TestCluster.start(2);
    try {
      const user = await cluster.user();
      const onOther = await cluster.connect(1, user);
      const disconnects = collect<string>(onOther, 'disconnect');
      await cluster.nodes[0]?.close();
      await new Promise((r) => setTimeout(r, 300));
      expect(disconnects).toEqual([]);
      expect(await request(onOther, 'sys:ping')).toMatchObject({ ok: true });
    } finally {
      await cluster.stop();
    }
  });

  it('tells connected clients it drains, closes their transport so they reconnect by themselves, and refuses new ones on close', async () => {
    const app = await buildApp(clusterConfig());
    const { port } = await app.listen(0, '127.0.0.1');
    const url = `http://127.0.0.1:${port}`;
    const user = await app.stores.db.users.create({
      email: `${randomUUID()}@example.test`,
      username: 'drain',
      passwordHash: 'unused',
    });
    const token = await app.tokens.sign({ userId: user.id, role: 'user' });
    const socket = await openClient(url, { token });
    const notice = nextEvent<unknown>(socket, 'sys:disconnect');
    const disconnected = nextEvent<string>(socket, 'disconnect');
    await app.close();
    expect(await notice).toEqual({ reason: 'draining', reconnect: true });
    // Not 'io server disconnect', after which a client would not reconnect.
    expect(await disconnected).toBe('transport close');
    await expect(openClient(url, { token })).rejects.toBeDefined();
  });
});
