import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('voice audio', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, {
      AUDIO_STREAM_TIMEOUT_MS: '600',
      AUDIO_CHUNK_MAX_BYTES: '65536',
      AUDIO_STREAM_MAX_BYTES: '200000',
    });
  });
  afterAll(() => cluster?.stop());

  async function room() {
    const owner = await cluster.user();
    const speaker = await cluster.connect(0, owner);
    const sessionId = await cluster.session(speaker);
    const listener = await cluster.connect(1, owner);
    await request(listener, 'session:join', { sessionId });
    return { owner, speaker, sessionId, listener };
  }

  it('stores a three-chunk stream, commits an audio message, and serves the bytes identical through the presigned URL', async () => {
    const { speaker, sessionId, listener } = await room();
    const news = collect<{ message: Message }>(listener, 'message:new');
    const chunks = [randomBytes(65_536), randomBytes(40_000), randomBytes(123)];
    expect(
      await request(speaker, 'audio:start', {
        sessionId,
        streamId: 'mic-1',
        mimeType: 'audio/webm',
        sampleRate: 48_000,
      }),
    ).toEqual({ ok: true, data: {} });
    for (const [index, data] of chunks.entries()) {
      expect(await request(speaker, 'audio:chunk', { streamId: 'mic-1', index, data })).toEqual({
        ok: true,
        data: { received: index },
      });
    }
    const whole = Buffer.concat(chunks);
    const sha256 = createHash('sha256').update(whole).digest('hex');
    const ended = await request<{ message: Message }>(speaker, 'audio:end', {
      streamId: 'mic-1',
      clientMsgId: 'voice-1',
      transcript: 'hello there',
    });
    expect(ended).toMatchObject({
      ok: true,
      data: {
        message: {
          seq: 1,
          role: 'user',
          contentType: 'audio',
          content: 'hello there',
          metadata: {
            objectKey: expect.stringMatching(new RegExp(`^audio/${sessionId}/[0-9a-f-]{36}\\.webm$`)),
            mimeType: 'audio/webm',
            bytes: whole.length,
            sha256,
            sampleRate: 48_000,
          },
        },
      },
    });
    await eventually(() => expect(news.map((n) => n.message.contentType)).toEqual(['audio']));
    const messageId = ended.ok ? ended.data.message.id : '';
    const link = await request<{ url: string; expiresAt: string }>(listener, 'audio:url', { messageId });
    expect(link.ok).toBe(true);
    if (!link.ok) return;
    expect(new Date(link.data.expiresAt).getTime()).toBeGreaterThan(Date.now());
    const download = await fetch(link.data.url);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(whole)).toBe(true);
    // A resent end acks the same message.
    const again = await request<{ message: Message }>(speaker, 'audio:end', {
      streamId: 'mic-1',
      clientMsgId: 'voice-1',
    });
    expect(again.ok && again.data.message.id).toBe(messageId);
  });

  it('refuses a gap in chunk indexes, oversized chunks and streams, and unknown streams', async () => {
    const { speaker, sessionId } = await room();
    await request(speaker, 'audio:start', { sessionId, streamId: 'gap', mimeType: 'audio/ogg' });
    await request(speaker, 'audio:chunk', { streamId: 'gap', index: 0, data: randomBytes(10) });
    expect(await request(speaker, 'audio:chunk', { streamId: 'gap', index: 2, data: randomBytes(10) })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', details: { expectedIndex: 1 } },
    });
    expect(await request(speaker, 'audio:chunk', { streamId: 'gap', index: 0, data: randomBytes(10) })).toEqual({
      ok: true,
      data: { received: 0 },
    });
    expect(
      await request(speaker, 'audio:chunk', { streamId: 'gap', index: 1, data: randomBytes(65_537) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
    for (let i = 1; i <= 3; i++)
      await request(speaker, 'audio:chunk', { streamId: 'gap', index: i, data: randomBytes(60_000) });
    expect(
      await request(speaker, 'audio:chunk', { streamId: 'gap', index: 4, data: randomBytes(60_000) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
    expect(await request(speaker, 'audio:chunk', { streamId: 'nope', index: 0, data: randomBytes(1) })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await request(speaker, 'audio:chunk', { streamId: 'gap', index: 0, data: 'not binary' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(await request(speaker, 'audio:start', { sessionId, streamId: 'x', mimeType: 'video/mp4' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(
      await request(speaker, 'audio:start', { sessionId, streamId: '../etc', mimeType: 'audio/ogg' }),
    ).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
  });

  it('discards an abandoned stream and leaves no object behind', async () => {
    const { speaker, sessionId } = await room();
    await request(speaker, 'audio:start', { sessionId, streamId: 'left', mimeType: 'audio/wav' });
    await request(speaker, 'audio:chunk', { streamId: 'left', index: 0, data: randomBytes(1000) });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await request(speaker, 'audio:end', { streamId: 'left', clientMsgId: 'late' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await cluster.nodes[0]?.stores.objects.list(`audio/${sessionId}/`)).toEqual([]);
    const rows = await cluster
      .sql()
      .query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(rows?.rows[0].n).toBe(0);
  });

  it('gives audio links only to those who may read the session, and only for audio', async () => {
    const { speaker, sessionId } = await room();
    await request(speaker, 'audio:start', { sessionId, streamId: 'priv', mimeType: 'audio/mpeg' });
    await request(speaker, 'audio:chunk', { streamId: 'priv', index: 0, data: randomBytes(100) });
    const ended = await request<{ message: Message }>(speaker, 'audio:end', { streamId: 'priv', clientMsgId: 'p' });
    const messageId = ended.ok ? ended.data.message.id : '';
    const stranger = await cluster.connect(1, await cluster.user());
    expect(await request(stranger, 'audio:url', { messageId })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    expect(await request(stranger, 'audio:start', { sessionId, streamId: 's', mimeType: 'audio/ogg' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    const text = await request<{ message: Message }>(speaker, 'message:send', {
      sessionId,
      clientMsgId: 't',
      content: 'text',
    });
    expect(await request(speaker, 'audio:url', { messageId: text.ok ? text.data.message.id : '' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(await request(speaker, 'audio:url', { messageId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });
});
