import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('sessions across two nodes', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('creates a session, joining the creating socket, and lists it newest first', async () => {
    const alice = await cluster.user();
    const socket = await cluster.connect(0, alice);
    const created = await request<{ session: Record<string, unknown> }>(socket, 'session:create', {
      title: '晚餐计划',
      context: { lang: 'zh' },
      metadata: { device: 'speaker' },
    });
    expect(created).toMatchObject({
      ok: true,
      data: {
        session: {
          userId: alice.id,
          title: '晚餐计划',
          status: 'active',
          context: { lang: 'zh' },
          metadata: { device: 'speaker' },
          lastSeq: 0,
        },
      },
    });
    const second = await cluster.session(socket, 'second');
    const listed = await request<{ sessions: { id: string }[]; nextCursor: string | null }>(socket, 'session:list', {
      limit: 1,
    });
    expect(listed.ok && listed.data.sessions.map((s) => s.id)).toEqual([second]);
    const rest = await request<{ sessions: { id: string }[] }>(socket, 'session:list', {
      limit: 10,
      cursor: listed.ok ? listed.data.nextCursor : undefined,
    });
    expect(rest.ok && rest.data.sessions).toHaveLength(1);
    expect(await request(socket, 'session:list')).toMatchObject({ ok: true });
    expect(await request(socket, 'session:list', { limit: 101 })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
  });

  it('joins on the other node with presence, and tells the room about updates and presence changes', async () => {
    const alice = await cluster.user();
    const a1 = await cluster.connect(0, alice);
    const sessionId = await cluster.session(a1);
    const a1Presence = collect<{ userId: string; connections: number }>(a1, 'presence');
    const a1Updates = collect<{ session: { title: string } }>(a1, 'session:updated');

    const a2 = await cluster.connect(1, alice);
    const joined = await request<{
      session: { id: string };
      messages: unknown[];
      hasMore: boolean;
      presence: unknown[];
    }>(a2, 'session:join', { sessionId });
    expect(joined).toMatchObject({
      ok: true,
      data: {
        session: { id: sessionId },
        messages: [],
        hasMore: false,
        presence: [{ userId: alice.id, role: 'user', connections: 2 }],
      },
    });
    await eventually(() => expect(a1Presence.at(-1)).toMatchObject({ userId: alice.id, connections: 2 }));

    const worker = await cluster.user('service');
    const w = await cluster.connect(1, worker);
    const workerJoin = await request<{ presence: unknown[] }>(w, 'session:join', { sessionId });
    expect(workerJoin.ok && workerJoin.data.presence).toEqual([
      ...[
        { userId: alice.id, role: 'user', connections: 2 },
        { userId: worker.id, role: 'service', connections: 1 },
      ].sort((x, y) => (x.userId < y.userId ? -1 : 1)),
    ]);

    const updated = await request<{ session: { title: string; status: string } }>(a2, 'session:update', {
      sessionId,
      title: 'renamed',
      status: 'archived',
    });
    expect(updated).toMatchObject({ ok: true, data: { session: { title: 'renamed', status: 'archived' } } });
    await eventually(() => expect(a1Updates.at(-1)?.session.title).toBe('renamed'));

    expect(await request(a2, 'session:leave', { sessionId })).toEqual({ ok: true, data: {} });
    await eventually(() => expect(a1Presence.at(-1)).toMatchObject({ userId: alice.id, connections: 1 }));
    a2.close();
    w.close();
  });

  it("keeps another user's session unreachable through every event", async () => {
    const alice = await cluster.user();
    const mallory = await cluster.user();
    const sessionId = await cluster.session(await cluster.connect(0, alice));
    const m = await cluster.connect(1, mallory);
    const forbidden = { ok: false, error: { code: 'FORBIDDEN' } };
    expect(await request(m, 'session:join', { sessionId })).toMatchObject(forbidden);
    expect(await request(m, 'session:update', { sessionId, title: 'mine now' })).toMatchObject(forbidden);
    expect(await request(m, 'message:send', { sessionId, clientMsgId: 'x', content: 'hi' })).toMatchObject(forbidden);
    expect(await request(m, 'message:delta', { sessionId, streamId: 's', index: 0, delta: 'hi' })).toMatchObject(
      forbidden,
    );
    expect(await request(m, 'history:get', { sessionId })).toMatchObject(forbidden);
    const list = await request<{ sessions: unknown[] }>(m, 'session:list', {});
    expect(list.ok && list.data.sessions).toEqual([]);
    const http = await fetch(`${cluster.urls[0]}/v1/sessions/${sessionId}/messages`, {
      headers: { authorization: `Bearer ${mallory.token}` },
    });
    expect(http.status).toBe(403);
  });

  it('answers unknown and malformed session ids with NOT_FOUND and VALIDATION', async () => {
    const alice = await cluster.user();
    const socket = await cluster.connect(0, alice);
    expect(await request(socket, 'session:join', { sessionId: randomUUID() })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await request(socket, 'session:join', { sessionId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(await request(socket, 'session:update', { sessionId: randomUUID(), title: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await request(socket, 'session:create', { context: JSON.parse('{"__proto__": {"x": 1}}') })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
  });

  it('lets services and admins join any session', async () => {
    const alice = await cluster.user();
    const admin = await cluster.user('admin');
    const sessionId = await cluster.session(await cluster.connect(0, alice));
    expect(await request(await cluster.connect(1, admin), 'session:join', { sessionId })).toMatchObject({ ok: true });
  });
});
