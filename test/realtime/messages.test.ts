import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('messages across two nodes', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  async function room(listenersPerNode = 1) {
    const owner = await cluster.user();
    const sender = await cluster.connect(0, owner);
    const sessionId = await cluster.session(sender);
    const listeners: TestSocket[] = [];
    for (let i = 0; i < listenersPerNode; i++) {
      for (const node of [0, 1]) {
        const socket = await cluster.connect(node, owner);
        expect(await request(socket, 'session:join', { sessionId })).toMatchObject({ ok: true });
        listeners.push(socket);
      }
    }
    return { owner, sender, sessionId, listeners };
  }

  it('acks after commit with seq 1, 2, ... and pushes message:new to every other socket, not the sender', async () => {
    const { sender, sessionId, listeners } = await room();
    const senderSeen = collect<{ message: Message }>(sender, 'message:new');
    const seen = listeners.map((l) => collect<{ message: Message }>(l, 'message:new'));
    const first = await request<{ message: Message }>(sender, 'message:send', {
      sessionId,
      clientMsgId: 'm1',
      content: '你好',
    });
    expect(first).toMatchObject({
      ok: true,
      data: {
        message: {
          sessionId,
          seq: 1,
          role: 'user',
          content: '你好',
          contentType: 'text',
          clientMsgId: 'm1',
          metadata: {},
        },
      },
    });
    const second = await request<{ message: Message }>(sender, 'message:send', {
      sessionId,
      clientMsgId: 'm2',
      content: 'transcript',
      contentType: 'transcript',
      metadata: { lang: 'en' },
    });
    expect(second.ok && second.data.message.seq).toBe(2);
    await eventually(() => {
      for (const s of seen) expect(s.map((e) => e.message.seq)).toEqual([1, 2]);
    });
    const row = await cluster.sql().query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(row?.rows[0].n).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    expect(senderSeen).toEqual([]);
  });

  it('keeps roles: users speak as user, services as anyone', async () => {
    const { owner, sender, sessionId } = await room();
    expect(
      await request(sender, 'message:send', { sessionId, clientMsgId: 'a', content: 'x', role: 'assistant' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    const worker = await cluster.connect(1, await cluster.user('service'));
    const posted = await request<{ message: Message }>(worker, 'message:send', {
      sessionId,
      clientMsgId: 'llm-1',
      content: 'Here is the answer',
      role: 'assistant',
      tokensUsed: 42,
      processingTimeMs: 900,
    });
    expect(posted).toMatchObject({
      ok: true,
      data: { message: { role: 'assistant', tokensUsed: 42, processingTimeMs: 900, seq: 1 } },
    });
    expect(owner.id).toBeDefined();
  });

  it('gives concurrent senders on two nodes gap-free seqs, delivered to every other socket exactly once and in order', async () => {
    const { owner, sessionId, listeners } = await room(2);
    const senders = [await cluster.connect(0, owner), await cluster.connect(1, owner)];
    for (const s of senders) await request(s, 'session:join', { sessionId });
    const seen = [...listeners, ...senders].map((l) => collect<{ message: Message }>(l, 'message:new'));
    const perSender = 60;
    const acks = await Promise.all(
      senders.flatMap((s, i) =>
        Array.from({ length: perSender }, (_, k) =>
          request<{ message: Message }>(s, 'message:send', {
            sessionId,
            clientMsgId: `s${i}-${k}`,
            content: `${i}:${k}`,
          }),
        ),
      ),
    );
    expect(acks.every((a) => a.ok)).toBe(true);
    const seqs = acks.map((a) => (a.ok ? a.data.message.seq : 0)).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 2 * perSender }, (_, i) => i + 1));
    await eventually(() => {
      for (const s of seen.slice(0, listeners.length)) {
        expect(s.map((e) => e.message.seq)).toEqual(Array.from({ length: 2 * perSender }, (_, i) => i + 1));
      }
    }, 15_000);
    // A joined sender gets everything except its own messages, still in order.
    for (const [i, s] of seen.slice(listeners.length).entries()) {
      const got = s.map((e) => e.message);
      expect(got.every((m) => !m.clientMsgId?.startsWith(`s${i}-`))).toBe(true);
      expect(got.map((m) => m.seq)).toEqual([...got.map((m) => m.seq)].sort((a, b) => a - b));
      expect(got).toHaveLength(perSender);
    }
  });

  it('stores and broadcasts a resend on the other node once, and acks both with the same message', async () => {
    const { owner, sessionId, listeners } = await room();
    const seen = listeners.map((l) => collect<{ message: Message }>(l, 'message:new'));
    const onA = await cluster.connect(0, owner);
    const onB = await cluster.connect(1, owner);
    const [a, b] = await Promise.all([
      request<{ message: Message }>(onA, 'message:send', { sessionId, clientMsgId: 'dup', content: 'once' }),
      request<{ message: Message }>(onB, 'message:send', { sessionId, clientMsgId: 'dup', content: 'once' }),
    ]);
    expect(a.ok && b.ok).toBe(true);
    expect(a.ok && b.ok && a.data.message).toEqual(b.ok && b.data.message);
    await eventually(() => {
      for (const s of seen) expect(s).toHaveLength(1);
    });
    await new Promise((r) => setTimeout(r, 200));
    for (const s of seen) expect(s).toHaveLength(1);
  });

  it('pages history over the socket and HTTP, and catches up a rejoining socket with sinceSeq on the other node', async () => {
    const { owner, sender, sessionId } = await room();
    for (let i = 1; i <= 7; i++)
      await request(sender, 'message:send', { sessionId, clientMsgId: `h${i}`, content: `m${i}` });
    const history = await request<{ messages: Message[]; hasMore: boolean }>(sender, 'history:get', {
      sessionId,
      beforeSeq: 6,
      limit: 3,
    });
    expect(history.ok && history.data.messages.map((m) => m.seq)).toEqual([3, 4, 5]);
    expect(history.ok && history.data.hasMore).toBe(true);
    const http = await fetch(`${cluster.urls[1]}/v1/sessions/${sessionId}/messages?limit=2`, {
      headers: { authorization: `Bearer ${owner.token}` },
    });
    expect(http.status).toBe(200);
    expect(((await http.json()) as { messages: Message[] }).messages.map((m) => m.seq)).toEqual([6, 7]);
    expect((await fetch(`${cluster.urls[1]}/v1/sessions/${sessionId}/messages`)).status).toBe(401);
    expect(
      (
        await fetch(`${cluster.urls[1]}/v1/sessions/${sessionId}/messages?limit=0`, {
          headers: { authorization: `Bearer ${owner.token}` },
        })
      ).status,
    ).toBe(400);

    const late = await cluster.connect(1, owner);
    const seen = collect<{ message: Message }>(late, 'message:new');
    const caught = await request<{ messages: Message[]; hasMore: boolean }>(late, 'session:join', {
      sessionId,
      sinceSeq: 4,
    });
    expect(caught.ok && caught.data.messages.map((m) => m.seq)).toEqual([5, 6, 7]);
    await request(sender, 'message:send', { sessionId, clientMsgId: 'h8', content: 'm8' });
    await eventually(() => expect(seen.map((e) => e.message.seq)).toEqual([8]));
  });

  it('delivers messages whose pub/sub announcement was lost: a gap is filled from PostgreSQL, and so is a lost last message', async () => {
    const { owner, sender, sessionId, listeners } = await room();
    const seen = listeners.map((l) => collect<{ message: Message }>(l, 'message:new'));
    const store = cluster.nodes[0]?.stores.messages;
    // Committed without being published, as if Redis dropped the announcement.
    await store?.append({
      sessionId,
      senderId: owner.id,
      clientMsgId: 'lost-1',
      role: 'user',
      content: 'lost one',
      contentType: 'text',
      metadata: {},
    });
    await request(sender, 'message:send', { sessionId, clientMsgId: 'after-gap', content: 'two' });
    await eventually(() => {
      for (const s of seen) expect(s.map((e) => e.message.seq)).toEqual([1, 2]);
    });
    await store?.append({
      sessionId,
      senderId: owner.id,
      clientMsgId: 'lost-last',
      role: 'user',
      content: 'lost last',
      contentType: 'text',
      metadata: {},
    });
    await eventually(() => {
      for (const s of seen) expect(s.map((e) => e.message.seq)).toEqual([1, 2, 3]);
    }, 10_000);
  });

  it('does not push a joined sender its own message when the message reaches its node from PostgreSQL, not from the announcement', async () => {
    const { owner, sender, sessionId, listeners } = await room();
    expect(await request(sender, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const seen = [sender, ...listeners].map((l) => collect<{ message: Message }>(l, 'message:new'));
    const store = cluster.nodes[0]?.stores.messages;
    // Two messages committed without being announced; the second is the sender's own, and
    // its resend is answered from the store (a duplicate, which is not announced either).
    for (const clientMsgId of ['lost-1', 'mine'])
      await store?.append({
        sessionId,
        senderId: owner.id,
        clientMsgId,
        role: 'user',
        content: clientMsgId,
        contentType: 'text',
        metadata: {},
      });
    expect(await request(sender, 'message:send', { sessionId, clientMsgId: 'mine', content: 'mine' })).toMatchObject({
      ok: true,
      data: { message: { seq: 2 } },
    });
    // Every node finds both in PostgreSQL (the quiet-session poll); the sender already holds 2.
    await eventually(() => {
      for (const l of seen.slice(1)) expect(l.map((e) => e.message.seq)).toEqual([1, 2]);
    }, 10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(seen[0]?.map((e) => e.message.seq)).toEqual([1]);
  });

  it('refuses oversized content with PAYLOAD_TOO_LARGE and bad input with VALIDATION, storing nothing', async () => {
    const { sender, sessionId } = await room();
    expect(
      await request(sender, 'message:send', { sessionId, clientMsgId: 'big', content: 'x'.repeat(32 * 1024 + 1) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
    for (const bad of [
      { sessionId, clientMsgId: '', content: 'x' },
      { sessionId, clientMsgId: 'stream:abc', content: 'x' },
      { sessionId, clientMsgId: 'n', content: 'nul\u0000' },
      { sessionId, clientMsgId: 'k', content: 5 },
      { sessionId, clientMsgId: 'r', content: 'x', role: 'robot' },
      { sessionId, clientMsgId: 'm', content: 'x', metadata: { streamId: 'bad id!' } },
    ]) {
      expect(await request(sender, 'message:send', bad)).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    }
    const rows = await cluster
      .sql()
      .query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(rows?.rows[0].n).toBe(0);
  });
});
