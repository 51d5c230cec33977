import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { proxyFor, TcpProxy } from '../helpers/tcp-proxy.js';

const METRICS_TOKEN = randomBytes(32).toString('base64url');

describe('what the operations endpoints tell the public (a node with S3 and Milvus behind proxies)', () => {
  let s3: TcpProxy;
  let milvus: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const proxied = await proxyFor(serviceEnv().S3_ENDPOINT);
    s3 = proxied.proxy;
    const [host, port] = serviceEnv().MILVUS_ADDRESS.split(':');
    milvus = await TcpProxy.start({ host: String(host), port: Number(port) });
    cluster = await TestCluster.start(1, {
      S3_ENDPOINT: proxied.url.replace(/\/$/, ''),
      MILVUS_ADDRESS: `127.0.0.1:${milvus.port}`,
      DEPENDENCY_TIMEOUT_MS: '2000',
      METRICS_TOKEN,
      RATE_LIMIT_REFRESH: '3/60s',
    });
  });
  afterAll(async () => {
    await s3?.up().catch(() => undefined);
    await milvus?.up().catch(() => undefined);
    await cluster?.stop();
    await s3?.down();
    await milvus?.down();
  });

  it('answers /readyz with which store is down and nothing of why; admins read why at /v1/admin/readiness', async () => {
    const url = cluster.urls[0] as string;
    // S3 is required (503); Milvus is not, and its driver's error is the raw gRPC status.
    await s3.down();
    await milvus.down();
    try {
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      const text = await ready.text();
      const body = JSON.parse(text) as { status: string; dependencies: Record<string, Record<string, unknown>> };
      expect(body.status).toBe('unavailable');
      expect(body.dependencies['objects']).toEqual({
        status: 'down',
        mode: 'external',
        required: true,
        latencyMs: expect.any(Number),
      });
      expect(body.dependencies['vector']).toMatchObject({ status: 'down', required: false });
      expect(body.dependencies['vector']).not.toHaveProperty('error');
      const leaks = ['127.0.0.1', String(s3.port), String(milvus.port), 'ECONNREFUSED', 'UNAVAILABLE', 'error'];
      for (const leak of [...leaks, cluster.nodes[0]?.config.nodeId]) expect(text, String(leak)).not.toContain(leak);

      const admin = await cluster.user('admin');
      const detailed = await call(url, 'GET', '/v1/admin/readiness', { token: admin.token });
      expect(detailed.status).toBe(200);
      expect(detailed.body).toMatchObject({
        status: 'unavailable',
        nodeId: cluster.nodes[0]?.config.nodeId,
        dependencies: {
          objects: { status: 'down', error: expect.stringMatching(/\S/) },
          // The driver's own text (gRPC status 14), which the public answer leaves out.
          vector: { status: 'down', error: expect.stringContaining('UNAVAILABLE') },
          postgres: { status: 'up' },
        },
      });
      const user = await cluster.user();
      expect((await call(url, 'GET', '/v1/admin/readiness', { token: user.token })).status).toBe(403);
      expect((await call(url, 'GET', '/v1/admin/readiness')).status).toBe(401);
    } finally {
      await s3.up();
      await milvus.up();
    }
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  }, 60_000);

  it('serves /metrics only with the bearer token METRICS_TOKEN', async () => {
    const url = cluster.urls[0] as string;
    const anonymous = await fetch(`${url}/metrics`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await anonymous.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const wrong = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const user = await cluster.user('admin');
    // An access token, even an admin's, is not the metrics token.
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${user.token}` } })).status).toBe(401);
    const scraped = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('voicehelper_http_requests_total');
  });

  it('limits token refreshes and logouts per address, together, with 429', async () => {
    const url = cluster.urls[0] as string;
    const registered = await call(url, 'POST', '/v1/auth/register', {
      body: { email: `${crypto.randomUUID()}@example.test`, username: 'r', password: 'long enough password' },
    });
    expect(registered.status).toBe(201);
    let refreshToken = registered.body['refreshToken'] as string;
    for (let i = 0; i < 3; i++) {
      const refreshed = await call(url, 'POST', '/v1/auth/refresh', { body: { refreshToken } });
      expect(refreshed.status).toBe(200);
      refreshToken = refreshed.body['refreshToken'] as string;
    }
    const refused = await call(url, 'POST', '/v1/auth/refresh', { body: { refreshToken } });
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    // Refused before the token was looked at: it was not used up.
    const logout = await call(url, 'POST', '/v1/auth/logout', { body: { refreshToken } });
    expect(logout.status).toBe(429);
    // Guessing tokens costs the same window: unknown ones are refused before they are looked up.
    expect(
      (await call(url, 'POST', '/v1/auth/refresh', { body: { refreshToken: randomBytes(32).toString('base64url') } }))
        .status,
    ).toBe(429);
  });
});
