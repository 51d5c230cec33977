import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

describe('message:send with PostgreSQL unreachable', () => {
  let proxy: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const url = new URL(serviceEnv().DATABASE_URL);
    proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port) });
    url.port = String(proxy.port);
    cluster = await TestCluster.start(1, { DATABASE_URL: url.toString() });
  });
  afterAll(async () => {
    await proxy?.up().catch(() => undefined);
    await cluster?.stop();
    await proxy?.down();
  });

  it('acks UNAVAILABLE without storing anything, and the same clientMsgId succeeds once it is back', async () => {
    const user = await cluster.user();
    const socket = await cluster.connect(0, user);
    const sessionId = await cluster.session(socket);
    const first = await request<{ message: Message }>(socket, 'message:send', {
      sessionId,
      clientMsgId: randomUUID(),
      content: 'before',
    });
    expect(first.ok && first.data.message.seq).toBe(1);

    await proxy.down();
    const clientMsgId = randomUUID();
    const refused = await request(socket, 'message:send', { sessionId, clientMsgId, content: 'during' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    const ready = await fetch(`${cluster.urls[0]}/readyz`);
    expect(ready.status).toBe(503);

    await proxy.up();
    const retried = await request<{ message: Message }>(socket, 'message:send', {
      sessionId,
      clientMsgId,
      content: 'during',
    });
    expect(retried.ok && retried.data.message).toMatchObject({ seq: 2, clientMsgId, content: 'during' });
    const history = await request<{ messages: Message[] }>(socket, 'history:get', { sessionId });
    expect(history.ok && history.data.messages.map((m) => m.content)).toEqual(['before', 'during']);
  }, 60_000);
});
