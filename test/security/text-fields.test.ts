import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { call, documentForm } from '../helpers/http.js';

const NUL = 'a\u0000b';
const LONE = 'a\ud800b';

describe('text fields refuse NUL and lone surrogates (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('refuses them in every session and message field with VALIDATION, and writes nothing', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(0, owner);
    const sessionId = await cluster.session(socket, 'clean');
    const bad = [
      ['session:create', { title: NUL }],
      ['session:create', { title: LONE }],
      ['session:create', { context: { note: NUL } }],
      ['session:create', { metadata: { [NUL]: 1 } }],
      ['session:update', { sessionId, title: NUL }],
      ['session:update', { sessionId, context: { deep: [{ x: LONE }] } }],
      ['session:update', { sessionId, metadata: { k: NUL } }],
      ['message:send', { sessionId, clientMsgId: randomUUID(), content: NUL }],
      ['message:send', { sessionId, clientMsgId: randomUUID(), content: LONE }],
      ['message:send', { sessionId, clientMsgId: `id${NUL}`, content: 'ok' }],
      ['message:send', { sessionId, clientMsgId: randomUUID(), content: 'ok', metadata: { tag: LONE } }],
      ['message:delta', { sessionId, streamId: 's1', index: 0, delta: NUL }],
      ['audio:end', { streamId: 'a1', clientMsgId: randomUUID(), transcript: NUL }],
      ['retrieve', { query: `what ${NUL}` }],
      ['session:list', { cursor: NUL }],
    ] as const;
    for (const [event, payload] of bad) {
      const ack = await request(socket, event, payload);
      expect({ event, payload, ack }).toMatchObject({ ack: { ok: false, error: { code: 'VALIDATION' } } });
    }
    const { rows } = await cluster
      .sql()
      .query('select title, context, metadata, last_seq from sessions where id = $1', [sessionId]);
    expect(rows[0]).toMatchObject({ title: 'clean', context: {}, metadata: {}, last_seq: '0' });
  });

  it('keeps an interrupted turn whole when a later delta carried NUL', async () => {
    const owner = await cluster.user();
    const streamer = await cluster.connect(0, owner);
    const sessionId = await cluster.session(streamer);
    const listener = await cluster.connect(1, owner);
    await request(listener, 'session:join', { sessionId });
    const news = collect<{ message: Message }>(listener, 'message:new');
    expect(await request(streamer, 'message:delta', { sessionId, streamId: 'tts', index: 0, delta: 'kept ' })).toEqual({
      ok: true,
      data: {},
    });
    expect(
      await request(streamer, 'message:delta', { sessionId, streamId: 'tts', index: 1, delta: NUL }),
    ).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(await request(streamer, 'message:delta', { sessionId, streamId: 'tts', index: 1, delta: 'text' })).toEqual({
      ok: true,
      data: {},
    });
    streamer.close();
    await eventually(() => expect(news.map((n) => n.message.content)).toEqual(['kept text']));
  });

  it('refuses them in HTTP bodies, queries and document fields with 400', async () => {
    const owner = await cluster.user();
    const url = cluster.urls[1] as string;
    const upload = (fields: Record<string, string>) =>
      call(url, 'POST', '/v1/documents', { token: owner.token, form: documentForm('hello', 'a.txt', fields) });
    expect((await upload({ title: NUL })).status).toBe(400);
    // Multipart text is UTF-8 on the wire (a lone surrogate arrives as U+FFFD); JSON escapes carry one.
    expect((await upload({ metadata: JSON.stringify({ k: LONE }) })).status).toBe(400);
    expect((await upload({ metadata: JSON.stringify({ k: NUL }) })).status).toBe(400);
    expect(
      (await call(url, 'POST', '/v1/graph/entities', { token: owner.token, body: { name: LONE, type: 'CONCEPT' } }))
        .status,
    ).toBe(400);
    expect(
      (
        await call(url, 'POST', '/v1/graph/entities', {
          token: owner.token,
          body: { name: 'ok', type: 'CONCEPT', description: NUL },
        })
      ).status,
    ).toBe(400);
    expect(
      (
        await call(url, 'POST', '/v1/graph/entities', {
          token: owner.token,
          body: { name: 'ok', type: 'CONCEPT', properties: { p: NUL } },
        })
      ).status,
    ).toBe(400);
    expect(
      (await call(url, 'GET', `/v1/graph/entities?q=${encodeURIComponent(NUL)}`, { token: owner.token })).status,
    ).toBe(400);
    expect(
      (await call(url, 'GET', `/v1/graph/entities/${encodeURIComponent(NUL)}`, { token: owner.token })).status,
    ).toBe(400);
    expect(
      (await call(url, 'GET', `/v1/documents?cursor=${encodeURIComponent(NUL)}`, { token: owner.token })).status,
    ).toBe(400);
    const { rows } = await cluster
      .sql()
      .query('select count(*)::int as n from documents where user_id = $1', [owner.id]);
    expect(rows[0].n).toBe(0);
  });
});
