import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('message:transcript (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { MESSAGE_MAX_BYTES: '1024' });
  });
  afterAll(() => cluster?.stop());

  /** A user's stored utterance in a session, a member of it on node 0, and a service joined on node 1. */
  async function utterance(): Promise<{ sessionId: string; audio: Message; member: TestSocket; worker: TestSocket }> {
    const owner = await cluster.user();
    const member = await cluster.connect(0, owner);
    const sessionId = await cluster.session(member);
    expect(
      await request(member, 'audio:start', { sessionId, streamId: 'mic', mimeType: 'audio/l16', sampleRate: 16_000 }),
    ).toMatchObject({ ok: true });
    expect(await request(member, 'audio:chunk', { streamId: 'mic', index: 0, data: randomBytes(640) })).toMatchObject({
      ok: true,
    });
    const ended = await request<{ message: Message }>(member, 'audio:end', {
      streamId: 'mic',
      clientMsgId: 'utterance',
    });
    if (!ended.ok) throw new Error(JSON.stringify(ended.error));
    const worker = await cluster.connect(1, await cluster.user('service'));
    expect(await request(worker, 'session:join', { sessionId })).toMatchObject({ ok: true });
    return { sessionId, audio: ended.data.message, member, worker };
  }

  it("sets an audio message's transcript: every member on every node is told, and history gives it as the content", async () => {
    const { sessionId, audio, member, worker } = await utterance();
    expect(audio.content).toBe('');
    const pushes = collect<Record<string, unknown>>(member, 'message:transcript');
    const ack = await request<{ message: Message }>(worker, 'message:transcript', {
      messageId: audio.id,
      transcript: 'who leads the support team',
    });
    expect(ack).toMatchObject({
      ok: true,
      data: { message: { id: audio.id, seq: audio.seq, contentType: 'audio', content: 'who leads the support team' } },
    });
    await eventually(() =>
      expect(pushes).toEqual([{ sessionId, messageId: audio.id, transcript: 'who leads the support team' }]),
    );
    const history = await request<{ messages: Message[] }>(member, 'history:get', { sessionId });
    expect(history).toMatchObject({
      ok: true,
      data: { messages: [{ id: audio.id, content: 'who leads the support team' }] },
    });
    // A better transcript later replaces it.
    expect(
      await request(worker, 'message:transcript', { messageId: audio.id, transcript: 'who leads support' }),
    ).toMatchObject({
      ok: true,
      data: { message: { content: 'who leads support' } },
    });
  });

  it('refuses users, services outside the session, text messages, unknown ids and oversized or bad transcripts', async () => {
    const { sessionId, audio, member, worker } = await utterance();
    expect(await request(member, 'message:transcript', { messageId: audio.id, transcript: 'mine' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    const outsider = await cluster.connect(0, await cluster.user('service'));
    expect(await request(outsider, 'message:transcript', { messageId: audio.id, transcript: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    const text = await request<{ message: Message }>(member, 'message:send', {
      sessionId,
      clientMsgId: 't',
      content: 'typed',
    });
    if (!text.ok) throw new Error(JSON.stringify(text.error));
    expect(
      await request(worker, 'message:transcript', { messageId: text.data.message.id, transcript: 'x' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(
      await request(worker, 'message:transcript', {
        messageId: '00000000-0000-4000-8000-000000000000',
        transcript: 'x',
      }),
    ).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(
      await request(worker, 'message:transcript', { messageId: audio.id, transcript: 'x'.repeat(1025) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
    expect(await request(worker, 'message:transcript', { messageId: audio.id, transcript: 'nul\u0000' })).toMatchObject(
      {
        ok: false,
        error: { code: 'VALIDATION' },
      },
    );
    expect(await request(worker, 'message:transcript', { messageId: 'nope', transcript: 'x' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    // Nothing of that was stored.
    const history = await request<{ messages: Message[] }>(member, 'history:get', { sessionId });
    expect(history).toMatchObject({
      ok: true,
      data: { messages: [{ id: audio.id, content: '' }, { content: 'typed' }] },
    });
  });
});
