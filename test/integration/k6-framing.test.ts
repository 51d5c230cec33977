import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
// The framing module the k6 scripts use (plain JavaScript, no k6 imports).
import { decode, eventPacket, SocketIoSession, socketUrl } from '../../load-tests/k6/lib/socketio.js';
import { eventually, TestCluster } from '../helpers/cluster.js';

interface Ack {
  ok: boolean;
  data?: any;
  error?: { code: string };
}

/** A connection through the framing module over a plain WebSocket, as a k6 VU makes it. */
async function open(
  url: string,
  token: string,
): Promise<{
  session: SocketIoSession;
  events: { name: string; payload: any }[];
  socket: WebSocket;
  call: (name: string, payload: unknown) => Promise<Ack>;
}> {
  const socket = new WebSocket(socketUrl(url));
  const events: { name: string; payload: any }[] = [];
  const session: SocketIoSession = await new Promise((resolve, reject) => {
    const s = new SocketIoSession((frame: string) => socket.send(frame), {
      auth: { token },
      onConnect: () => resolve(s),
      onConnectError: (message: string, data: unknown) => reject(Object.assign(new Error(message), { data })),
      onEvent: (name: string, payload: unknown) => events.push({ name, payload }),
    });
    socket.on('message', (frame) => s.receive(String(frame)));
    socket.on('error', reject);
  });
  const call = (name: string, payload: unknown) => new Promise<Ack>((resolve) => session.emit(name, payload, resolve));
  return { session, events, socket, call };
}

describe('the k6 scripts’ Socket.IO framing, against a node', () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('connects with a token, gets sys:hello, creates and joins a session, sends with acks, and another node delivers', async () => {
    const owner = await cluster.user();
    const a = await open(cluster.urls[0] as string, owner.token);
    const b = await open(cluster.urls[1] as string, owner.token);
    await eventually(() => expect(a.events.map((e) => e.name)).toContain('sys:hello'));
    const created = await a.call('session:create', { title: 'k6' });
    expect(created.ok).toBe(true);
    const sessionId = created.data.session.id as string;
    expect((await a.call('session:join', { sessionId })).ok).toBe(true);
    expect((await b.call('session:join', { sessionId })).ok).toBe(true);
    const sent = await Promise.all(
      [1, 2, 3].map((i) =>
        a.call('message:send', { sessionId, clientMsgId: `k6-${i}`, content: `m${i}`, metadata: { sentAt: i } }),
      ),
    );
    expect(sent.map((ack) => ack.ok)).toEqual([true, true, true]);
    expect(sent.map((ack) => ack.data.message.seq).sort()).toEqual([1, 2, 3]);
    await eventually(() => expect(b.events.filter((e) => e.name === 'message:new')).toHaveLength(3));
    expect(b.events.filter((e) => e.name === 'message:new').map((e) => e.payload.message.seq)).toEqual([1, 2, 3]);
    // An error comes back as an ack too, with its code.
    expect(await a.call('message:send', { sessionId })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    expect(a.session.unanswered).toBe(0);
    a.socket.close();
    b.socket.close();
  });

  it('reports a refused handshake as connect_error with the code', async () => {
    await expect(open(cluster.urls[0] as string, 'not-a-token')).rejects.toMatchObject({
      message: 'unauthorized',
      data: { code: 'UNAUTHORIZED' },
    });
  });

  it('decodes every packet kind it meets, and answers pings', () => {
    expect(decode('0{"sid":"x","pingInterval":25000,"pingTimeout":20000}')).toEqual({
      kind: 'open',
      pingInterval: 25000,
      pingTimeout: 20000,
    });
    expect(decode('2')).toEqual({ kind: 'ping' });
    expect(decode('40{"sid":"abc"}')).toEqual({ kind: 'connect', sid: 'abc' });
    expect(decode('42["message:new",{"a":1}]')).toEqual({ kind: 'event', name: 'message:new', payload: { a: 1 } });
    expect(decode('4312[{"ok":true}]')).toEqual({ kind: 'ack', id: 12, response: { ok: true } });
    expect(decode('41')).toEqual({ kind: 'disconnect' });
    expect(eventPacket('sys:ping', {}, 7)).toBe('427["sys:ping",{}]');
    const sent: string[] = [];
    const session = new SocketIoSession((frame: string) => sent.push(frame), { auth: { token: 't' } });
    session.receive('0{"sid":"x","pingInterval":25000,"pingTimeout":20000}');
    session.receive('2');
    expect(sent).toEqual(['40{"token":"t"}', '3']);
  });
});
