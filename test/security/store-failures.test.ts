import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type TestSocket } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

describe('store failures outside message:send answer UNAVAILABLE (two nodes, one cut off)', () => {
  let postgres: TcpProxy;
  let redis: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const env = serviceEnv();
    const pg = await proxyFor(env.DATABASE_URL);
    const rd = await proxyFor(env.REDIS_URL);
    postgres = pg.proxy;
    redis = rd.proxy;
    // Node 0 reaches the services directly; node 1 only through the proxies.
    cluster = await TestCluster.start(1);
    await cluster.addNode({ DATABASE_URL: pg.url, REDIS_URL: rd.url });
  });
  afterAll(async () => {
    await postgres?.up().catch(() => undefined);
    await redis?.up().catch(() => undefined);
    await cluster?.stop();
    await postgres?.down();
    await redis?.down();
  });

  async function setup(): Promise<{ token: string; socket: TestSocket; sessionId: string }> {
    const owner = await cluster.user();
    const socket = await cluster.connect(1, owner);
    const sessionId = await cluster.session(socket);
    return { token: owner.token, socket, sessionId };
  }

  it('with PostgreSQL cut off: session events, history and HTTP history are UNAVAILABLE, and work again after', async () => {
    const { token, socket, sessionId } = await setup();
    // A session this node neither follows nor holds in memory: joining it needs PostgreSQL.
    const owner = (await cluster.nodes[1]!.stores.db.sessions.get(sessionId))?.userId as string;
    const other = (await cluster.nodes[0]!.stores.db.sessions.create({ userId: owner, title: 'other' })).id;
    await postgres.down();
    try {
      const events = [
        ['session:create', { title: 'x' }],
        ['session:list', {}],
        ['session:update', { sessionId, title: 'y' }],
        ['session:join', { sessionId: other, sinceSeq: 0 }],
        ['history:get', { sessionId }],
      ] as const;
      for (const [event, payload] of events) {
        expect({ event, ack: await request(socket, event, payload) }).toMatchObject({
          event,
          ack: { ok: false, error: { code: 'UNAVAILABLE' } },
        });
      }
      const http = await call(cluster.urls[1] as string, 'GET', `/v1/sessions/${sessionId}/messages`, { token });
      expect(http.status).toBe(503);
      expect(http.body).toMatchObject({ error: { code: 'UNAVAILABLE' } });
    } finally {
      await postgres.up();
    }
    expect(await request(socket, 'history:get', { sessionId })).toMatchObject({ ok: true });
    expect(await request(socket, 'session:update', { sessionId, title: 'y' })).toMatchObject({
      ok: true,
      data: { session: { title: 'y' } },
    });
  }, 60_000);

  it('with Redis cut off: deltas and joins are UNAVAILABLE, the other node is unaffected', async () => {
    const { socket, sessionId } = await setup();
    const owner = await cluster.user('service');
    const healthy = await cluster.connect(0, owner);
    const healthySession = await cluster.session(healthy);
    const other = await cluster.session(socket, 'other');
    await redis.down();
    try {
      expect(
        await request(socket, 'message:delta', { sessionId, streamId: 'asr', index: 0, delta: 'hi' }),
      ).toMatchObject({
        ok: false,
        error: { code: 'UNAVAILABLE' },
      });
      const joined = await request(socket, 'session:join', { sessionId: other });
      expect(joined).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(
        await request(healthy, 'message:delta', { sessionId: healthySession, streamId: 'asr', index: 0, delta: 'hi' }),
      ).toEqual({ ok: true, data: {} });
      expect(
        await request(healthy, 'message:send', {
          sessionId: healthySession,
          clientMsgId: randomUUID(),
          content: 'fine',
        }),
      ).toMatchObject({ ok: true });
    } finally {
      await redis.up();
    }
    // Back to normal once Redis is: the same socket streams again.
    await eventually(async () => expect((await fetch(`${cluster.urls[1]}/readyz`)).status).toBe(200));
    await eventually(async () =>
      expect(await request(socket, 'message:delta', { sessionId, streamId: 'asr', index: 0, delta: 'hi' })).toEqual({
        ok: true,
        data: {},
      }),
    );
  }, 60_000);
});
