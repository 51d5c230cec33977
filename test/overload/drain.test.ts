import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { io as connect } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DisconnectNotice } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import { nextEvent, openClient, request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call } from '../helpers/http.js';

describe('draining a node under load (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    // The stream's owner goes quiet for the whole drain (up to two seconds on a loaded
    // machine): the test clusters' 1.5 s idle limit would commit it as interrupted meanwhile.
    cluster = await TestCluster.start(2, { STREAM_RESUME_GRACE_MS: '5000', STREAM_IDLE_MS: '15000' });
  });
  afterAll(() => cluster?.stop());

  it('tells clients at once, answers what they still send, closes each once it is quiet, and they carry on on the other node without losing a message or a stream', async () => {
    const owner = await cluster.user();
    const doomed = cluster.nodes[1]!;
    const speaker = await cluster.connect(1, owner);
    const sessionId = await cluster.session(speaker);
    const watcher = await cluster.connect(0, owner);
    await request(watcher, 'session:join', { sessionId });
    const seen = collect<{ message: Message }>(watcher, 'message:new');
    for (let i = 0; i < 5; i++)
      await request(speaker, 'message:send', { sessionId, clientMsgId: `before-${i}`, content: `m${i}` });
    await request(speaker, 'message:delta', { sessionId, streamId: 'answer', index: 0, delta: 'one ' });

    // A send that is still running when the drain starts: PostgreSQL holds it behind a lock.
    const holder = new pg.Client({ connectionString: serviceEnv().DATABASE_URL });
    await holder.connect();
    await holder.query('begin');
    await holder.query('select 1 from sessions where id = $1 for update', [sessionId]);
    const running = request<{ message: Message }>(speaker, 'message:send', {
      sessionId,
      clientMsgId: 'during',
      content: 'held',
    });
    await new Promise((r) => setTimeout(r, 200));
    const notice = nextEvent<DisconnectNotice>(speaker, 'sys:disconnect');
    const gone = nextEvent<string>(speaker, 'disconnect');
    let closed = false;
    void gone.then(() => (closed = true));
    const closing = doomed.close();
    // Told at once, while its send is still held.
    expect(await notice).toEqual({ reason: 'draining', reconnect: true });
    await eventually(async () => expect((await fetch(`${cluster.urls[1]}/readyz`)).status).toBe(503));
    // Still connected while something of it runs: what it sends is answered, not refused.
    expect(await request(speaker, 'sys:ping')).toMatchObject({ ok: true });
    await new Promise((r) => setTimeout(r, 500));
    expect(closed).toBe(false);
    await holder.query('commit');
    await holder.end();
    expect(await running).toMatchObject({ ok: true, data: { message: { seq: 6, content: 'held' } } });
    expect(await gone).toBe('transport close');

    // The client moves to the other node: rejoins from what it holds, continues its stream.
    const moved = await cluster.connect(0, owner);
    const rejoined = await request<{ messages: Message[] }>(moved, 'session:join', { sessionId, sinceSeq: 6 });
    expect(rejoined).toMatchObject({ ok: true, data: { messages: [] } });
    expect(await request(moved, 'message:delta', { sessionId, streamId: 'answer', index: 1, delta: 'two' })).toEqual({
      ok: true,
      data: {},
    });
    const final = await request<{ message: Message }>(moved, 'message:send', {
      sessionId,
      clientMsgId: 'f',
      content: 'one two',
      metadata: { streamId: 'answer' },
    });
    expect(final).toMatchObject({ ok: true, data: { message: { seq: 7, content: 'one two' } } });
    await closing;
    await new Promise((r) => setTimeout(r, 5_500)); // past the resume grace: no interrupted copy follows
    await eventually(() => expect(seen.map((s) => s.message.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]));
    const history = await request<{ messages: Message[] }>(watcher, 'history:get', { sessionId });
    expect(history.ok && history.data.messages.map((m) => m.content)).toEqual([
      'm0',
      'm1',
      'm2',
      'm3',
      'm4',
      'held',
      'one two',
    ]);
  }, 40_000);
});

describe('clients are told why they are dropped (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('role_changed: the client reconnects by itself and has the new role; disabled and logged_out: it stays away', async () => {
    const root = await cluster.user('admin');
    const worker = await cluster.user('service');
    const owner = await cluster.user();
    const sessionId = await cluster.session(await cluster.connect(0, owner));
    // A standard client, reconnection on.
    const client = connect(cluster.urls[1] as string, {
      transports: ['websocket'],
      forceNew: true,
      auth: { token: worker.token },
      reconnectionDelay: 50,
    });
    await nextEvent(client, 'connect');
    const notices = collect<DisconnectNotice>(client, 'sys:disconnect');
    expect((await request(client, 'session:join', { sessionId })).ok).toBe(true);
    const reconnected = new Promise((resolve) => client.io.once('reconnect', resolve));
    expect(
      (
        await call(cluster.urls[0] as string, 'PUT', `/v1/admin/users/${worker.id}/roles`, {
          token: root.token,
          body: { roles: [] },
        })
      ).status,
    ).toBe(200);
    await reconnected;
    expect(notices).toEqual([{ reason: 'role_changed', reconnect: true }]);
    expect(await request(client, 'session:join', { sessionId })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });

    const disconnected = nextEvent<string>(client, 'disconnect');
    expect(
      (
        await call(cluster.urls[0] as string, 'PUT', `/v1/admin/users/${worker.id}/status`, {
          token: root.token,
          body: { status: 'disabled' },
        })
      ).status,
    ).toBe(200);
    expect(await disconnected).toBe('io server disconnect');
    expect(notices.at(-1)).toEqual({ reason: 'disabled', reconnect: false });
    client.close();

    const email = `${randomUUID()}@example.test`;
    const registered = await call(cluster.urls[0] as string, 'POST', '/v1/auth/register', {
      body: { email, username: 'u', password: 'long enough password' },
    });
    const socket = await openClient(cluster.urls[1] as string, { token: registered.body['accessToken'] });
    const loggedOut = nextEvent<DisconnectNotice>(socket, 'sys:disconnect');
    await call(cluster.urls[0] as string, 'POST', '/v1/auth/logout', {
      body: { refreshToken: registered.body['refreshToken'] },
    });
    expect(await loggedOut).toEqual({ reason: 'logged_out', reconnect: false });
  });

  it('commits a stream whose socket went away only when nobody continued it within the grace period', async () => {
    const owner = await cluster.user();
    const first = await cluster.connect(0, owner);
    const sessionId = await cluster.session(first);
    const watcher = await cluster.connect(1, owner);
    await request(watcher, 'session:join', { sessionId });
    const seen = collect<{ message: Message }>(watcher, 'message:new');
    await request(first, 'message:delta', { sessionId, streamId: 'kept', index: 0, delta: 'a' });
    await request(first, 'message:delta', { sessionId, streamId: 'dropped', index: 0, delta: 'b' });
    first.close();
    const second = await cluster.connect(1, owner);
    expect(await request(second, 'message:delta', { sessionId, streamId: 'kept', index: 1, delta: 'c' })).toEqual({
      ok: true,
      data: {},
    });
    await eventually(() =>
      expect(seen.map((s) => [s.message.content, s.message.metadata['streamId']])).toEqual([['b', 'dropped']]),
    );
    // 'kept' belongs to the second socket now: it is committed when that one goes away.
    second.close();
    await eventually(() => expect(seen.map((s) => s.message.content)).toEqual(['b', 'ac']));
  });
});
