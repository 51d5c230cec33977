import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireError } from '../../protocol/errors.js';
import { openClient, request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('rate limits shared by two nodes', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, {
      // Exactness of the shared window is what these tests check, not the fallback: a check
      // slowed past the default 250 ms by a loaded machine would count on its node alone.
      RATE_LIMIT_SHARED_TIMEOUT_MS: '10000',
      RATE_LIMIT_MESSAGE_SEND: '20/10s',
      RATE_LIMIT_MESSAGE_DELTA: '4/2s',
      RATE_LIMIT_CONNECTIONS: '1000/60s',
    });
  });
  afterAll(() => cluster?.stop());

  it('passes exactly 20 of a 26-send burst split across two nodes, refuses the rest with retryAfterMs, and admits again after it', async () => {
    const user = await cluster.user();
    const [onA, onB] = [await cluster.connect(0, user), await cluster.connect(1, user)];
    const sessionId = await cluster.session(onA);
    const acks = await Promise.all(
      Array.from({ length: 26 }, (_, i) =>
        request(i % 2 === 0 ? onA : onB, 'message:send', { sessionId, clientMsgId: `b${i}`, content: 'x' }),
      ),
    );
    const refused = acks.filter((a) => !a.ok).map((a) => (a.ok ? undefined : a.error)) as WireError[];
    expect(acks.filter((a) => a.ok)).toHaveLength(20);
    expect(refused).toHaveLength(6);
    for (const error of refused) {
      expect(error.code).toBe('RATE_LIMITED');
      expect(error.retryAfterMs).toBeGreaterThan(0);
      expect(error.retryAfterMs).toBeLessThanOrEqual(10_000);
    }
    const wait = Math.max(...refused.map((e) => e.retryAfterMs ?? 0));
    await sleep(wait + 50);
    expect(await request(onB, 'message:send', { sessionId, clientMsgId: 'after', content: 'x' })).toMatchObject({
      ok: true,
    });
  }, 30_000);

  it("lets a worker's socket send its account's limit times the capacity it registered, and no more", async () => {
    const service = await cluster.user('service');
    const worker = await cluster.connect(0, service);
    expect(
      await request(worker, 'agent:register', { agent: `limits-${Date.now().toString(36)}`, capacity: 3 }),
    ).toMatchObject({ ok: true });
    const sessionId = await cluster.session(worker);
    // message:send is 20 per 10 s per user here: 60 for a worker of capacity 3.
    const other = await cluster.connect(1, service);
    const acks = await Promise.all(
      Array.from({ length: 66 }, (_, i) =>
        request(worker, 'message:send', { sessionId, clientMsgId: `w${i}`, content: 'x' }),
      ),
    );
    expect(acks.filter((a) => a.ok)).toHaveLength(60);
    expect(acks.filter((a) => !a.ok).map((a) => (a.ok ? undefined : a.error.code))).toEqual(
      Array(6).fill('RATE_LIMITED'),
    );
    // The account's other socket, not a worker, is held to the account's own limit: the
    // window it shares is past it already.
    expect(await request(other, 'session:join', { sessionId })).toMatchObject({ ok: true });
    expect(await request(other, 'message:send', { sessionId, clientMsgId: 'other', content: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'RATE_LIMITED' },
    });
  }, 30_000);

  it('counts by the true sliding window, not by fixed buckets', async () => {
    // 4 deltas per 2 s: 2 at t=0, 2 at t≈1.2 s; at t≈2.3 s the first two have left the
    // window but the last two have not, so exactly 2 more fit (a fixed bucket would admit 4).
    const user = await cluster.user();
    const socket = await cluster.connect(0, user);
    const sessionId = await cluster.session(socket);
    let index = 0;
    const delta = () => request(socket, 'message:delta', { sessionId, streamId: 'w', index: index++, delta: '.' });
    const ok = async (n: number) =>
      (await Promise.all(Array.from({ length: n }, () => delta()))).filter((a) => a.ok).length;
    expect(await ok(2)).toBe(2);
    await sleep(1_200);
    expect(await ok(2)).toBe(2);
    expect((await delta()).ok).toBe(false);
    index--; // the refused delta's index was not used
    await sleep(1_100);
    const burst = [];
    for (let i = 0; i < 3; i++) burst.push(await delta());
    expect(burst.map((a) => a.ok)).toEqual([true, true, false]);
  }, 20_000);

  it('applies a limit changed by an admin on one node on the other node within a second', async () => {
    const admin = await cluster.user('admin');
    const response = await fetch(`${cluster.urls[0]}/v1/admin/configs/rate_limits`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
      body: JSON.stringify({ value: { 'message:send': { limit: 3, windowMs: 60_000 } }, description: 'test' }),
    });
    expect(response.status).toBe(200);
    try {
      const user = await cluster.user();
      const socket = await cluster.connect(1, user);
      const sessionId = await cluster.session(socket);
      await eventually(async () => {
        const acks = [];
        for (let i = 0; i < 4; i++)
          acks.push(
            await request(socket, 'message:send', { sessionId, clientMsgId: `c${Date.now()}-${i}`, content: 'x' }),
          );
        expect(acks.at(-1)).toMatchObject({ ok: false, error: { code: 'RATE_LIMITED' } });
      }, 1_000);
    } finally {
      await fetch(`${cluster.urls[0]}/v1/admin/configs/rate_limits`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
        body: JSON.stringify({ value: {} }),
      });
    }
  });
});

describe('connection and login limits (fixed windows)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    // Fixed-window counters live under keys named by their rule; an odd window keeps this
    // run's counters apart from any earlier run on the same Redis.
    const windowMs = 60_000 + Math.floor(Math.random() * 10_000);
    cluster = await TestCluster.start(2, {
      RATE_LIMIT_CONNECTIONS: `3/${windowMs}`,
      RATE_LIMIT_LOGIN: `3/${windowMs}`,
    });
  });
  afterAll(() => cluster?.stop());

  it('refuses the handshake past the per-IP limit with connect_error rate_limited', async () => {
    const user = await cluster.user();
    for (let i = 0; i < 3; i++) (await openClient(cluster.urls[i % 2] as string, { token: user.token })).close();
    const error = (await openClient(cluster.urls[1] as string, { token: user.token }).catch(
      (e: unknown) => e,
    )) as Error & {
      data?: { code?: string; retryAfterMs?: number };
    };
    expect(error.message).toBe('rate_limited');
    expect(error.data?.code).toBe('RATE_LIMITED');
    expect(error.data?.retryAfterMs).toBeGreaterThan(0);
  });

  it('answers logins past the limit for one email with 429 and Retry-After, whatever the password', async () => {
    const email = `brute-${Date.now()}@example.test`;
    await fetch(`${cluster.urls[0]}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, username: 'b', password: 'the-real-password' }),
    });
    const attempt = (node: number, password: string) =>
      fetch(`${cluster.urls[node]}/v1/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
    for (let i = 0; i < 3; i++) expect((await attempt(i % 2, 'wrong-password')).status).toBe(401);
    const blocked = await attempt(1, 'the-real-password');
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
  });
});
