import { readFileSync } from 'node:fs';
import path from 'node:path';
import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { TestCluster } from '../helpers/cluster.js';
import { call } from '../helpers/http.js';
import { HttpProxy } from '../helpers/http-proxy.js';

/** Opens a socket with extra handshake headers; resolves 'connected' or the connect_error message. Connected sockets stay open (they count) until the cluster stops. */
async function handshake(url: string, token: string, headers: Record<string, string>): Promise<string> {
  const socket = connect(url, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    auth: { token },
    extraHeaders: headers,
  });
  const outcome = await new Promise<string>((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (error) => resolve(error.message));
  });
  if (outcome !== 'connected') socket.close();
  return outcome;
}

// Connection windows live in Redis per address and rule: each run gets addresses and a
// window length of its own, so runs never share them.
const octet = () => Math.floor(Math.random() * 254) + 1;
const uniqueWindow = () => `2/${60_000 + Math.floor(Math.random() * 10_000)}`;

describe('client addresses behind a trusted proxy (two nodes, each behind an HTTP proxy)', () => {
  let cluster: TestCluster;
  const proxies: HttpProxy[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { TRUST_PROXY: 'loopback', RATE_LIMIT_CONNECTIONS: uniqueWindow() });
    for (const url of cluster.urls)
      proxies.push(await HttpProxy.start({ host: '127.0.0.1', port: Number(new URL(url).port) }));
  });
  afterAll(async () => {
    await cluster?.stop();
    for (const proxy of proxies) await proxy.close();
  });

  const through = (i: number) => `http://127.0.0.1:${proxies[i]?.port}`;

  it('limits connections by the address the proxy forwarded, across both nodes', async () => {
    const user = await cluster.user();
    const client = { 'x-test-client': `203.0.113.${octet()}` };
    expect(await handshake(through(0), user.token, client)).toBe('connected');
    expect(await handshake(through(1), user.token, client)).toBe('connected');
    expect(await handshake(through(0), user.token, client)).toBe('rate_limited');
    expect(await handshake(through(1), user.token, { 'x-test-client': `198.51.100.${octet()}` })).toBe('connected');
  });

  it('records the forwarded address in the audit log', async () => {
    const email = `${crypto.randomUUID()}@example.test`;
    const registered = await fetch(`${through(1)}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-test-client': '198.51.100.4' },
      body: JSON.stringify({ email, username: 'u', password: 'long enough password' }),
    });
    expect(registered.status).toBe(201);
    const { user } = (await registered.json()) as { user: { id: string } };
    const { rows } = await cluster
      .sql()
      .query("select host(ip_address) as ip from audit_logs where user_id = $1 and action = 'auth.register'", [
        user.id,
      ]);
    expect(rows).toEqual([{ ip: '198.51.100.4' }]);
  });
});

describe('X-Forwarded-For from an untrusted peer is ignored (no TRUST_PROXY)', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start(1, { RATE_LIMIT_CONNECTIONS: uniqueWindow() });
  });
  afterAll(() => cluster?.stop());

  it('counts every spoofed connection as the peer it really is', async () => {
    const user = await cluster.user();
    const url = cluster.urls[0] as string;
    expect(await handshake(url, user.token, { 'x-forwarded-for': '192.0.2.1' })).toBe('connected');
    expect(await handshake(url, user.token, { 'x-forwarded-for': '192.0.2.2' })).toBe('connected');
    expect(await handshake(url, user.token, { 'x-forwarded-for': '192.0.2.3' })).toBe('rate_limited');
  });
});

/** The address docker-compose.yml's nodes read client addresses from (TRUST_PROXY), and the load balancer's own. */
function composeTrust(): { trustProxy: string; lb: string; subnet: string } {
  const compose = parse(readFileSync(path.join(packageRoot(), 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: Record<
      string,
      { build?: unknown; environment?: Record<string, string>; networks?: Record<string, { ipv4_address?: string }> }
    >;
    networks?: { default?: { ipam?: { config?: { subnet?: string }[] } } };
  };
  const node = Object.values(compose.services).find((service) => service.build !== undefined);
  return {
    trustProxy: String(node?.environment?.['TRUST_PROXY']),
    lb: String(compose.services['lb']?.networks?.['default']?.ipv4_address),
    subnet: String(compose.networks?.default?.ipam?.config?.[0]?.subnet),
  };
}

describe("the compose stack's TRUST_PROXY: only the load balancer may name the client", () => {
  // The compose stack in miniature: the node trusts what docker-compose.yml trusts, with the
  // load balancer's address standing for this proxy's (which connects from 127.0.0.2; clients
  // of the test connect from 127.0.0.1). The proxy appends the address a client connects
  // from, as nginx does; the client named here is another container of the compose network.
  const PROXY_ADDRESS = '127.0.0.2';
  let cluster: TestCluster;
  let proxy: HttpProxy;
  let neighbour: string;

  beforeAll(async () => {
    const { trustProxy, lb, subnet } = composeTrust();
    const trusted = trustProxy.split(',').map((part) => (part.trim() === lb ? PROXY_ADDRESS : part.trim()));
    if (!trusted.includes(PROXY_ADDRESS)) trusted.push(PROXY_ADDRESS);
    neighbour = subnet.replace(/\.\d+\/\d+$/, '.77');
    cluster = await TestCluster.start(1, { TRUST_PROXY: trusted.join(',') });
    proxy = await HttpProxy.start(
      { host: '127.0.0.1', port: Number(new URL(cluster.urls[0] as string).port) },
      { localAddress: PROXY_ADDRESS },
    );
  });
  afterAll(async () => {
    await cluster?.stop();
    await proxy?.close();
  });

  async function registeredFrom(url: string, headers: Record<string, string>): Promise<string> {
    const response = await fetch(`${url}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({
        email: `${crypto.randomUUID()}@example.test`,
        username: 'u',
        password: 'long enough password',
      }),
    });
    expect(response.status).toBe(201);
    const { user } = (await response.json()) as { user: { id: string } };
    const { rows } = await cluster
      .sql()
      .query<{ ip: string }>(
        "select host(ip_address) as ip from audit_logs where user_id = $1 and action = 'auth.register'",
        [user.id],
      );
    return String(rows[0]?.ip);
  }

  it('records the address a client on the compose network connected from, whatever X-Forwarded-For it sends', async () => {
    const through = `http://127.0.0.1:${proxy.port}`;
    expect(await registeredFrom(through, { 'x-test-client': neighbour, 'x-forwarded-for': '198.51.100.9' })).toBe(
      neighbour,
    );
    // An outside client through the load balancer keeps its own address.
    expect(await registeredFrom(through, { 'x-test-client': '203.0.113.20' })).toBe('203.0.113.20');
  });

  it('ignores X-Forwarded-For from a peer that is not the load balancer', async () => {
    expect(await registeredFrom(cluster.urls[0] as string, { 'x-forwarded-for': '198.51.100.10' })).toBe('127.0.0.1');
  });
});

describe('browsers on other origins are refused unless listed (two nodes)', () => {
  let cluster: TestCluster;
  const app = 'https://app.example.com';
  beforeAll(async () => {
    cluster = await TestCluster.start(2, { CORS_ORIGINS: app });
  });
  afterAll(() => cluster?.stop());

  it('answers a listed origin with CORS headers and refuses others, over HTTP and at the Socket.IO handshake', async () => {
    const user = await cluster.user();
    for (const url of cluster.urls) {
      const fromApp = await fetch(`${url}/v1/documents`, {
        headers: { origin: app, authorization: `Bearer ${user.token}` },
      });
      expect(fromApp.status).toBe(200);
      expect(fromApp.headers.get('access-control-allow-origin')).toBe(app);
      const preflight = await fetch(`${url}/v1/documents`, {
        method: 'OPTIONS',
        headers: { origin: app, 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(204);
      const evil = await call(url, 'GET', '/v1/documents', { token: user.token });
      expect(evil.status).toBe(200); // no Origin: not a browser, or same-origin
      const fromEvil = await fetch(`${url}/v1/documents`, {
        headers: { origin: 'https://evil.example', authorization: `Bearer ${user.token}` },
      });
      expect(fromEvil.status).toBe(403);
      expect(fromEvil.headers.get('access-control-allow-origin')).toBeNull();
      const sameOrigin = await fetch(`${url}/healthz`, { headers: { origin: url } });
      expect(sameOrigin.status).toBe(200);
      expect(await handshake(url, user.token, { origin: 'https://evil.example' })).not.toBe('connected');
      expect(await handshake(url, user.token, { origin: app })).toBe('connected');
    }
  });
});
