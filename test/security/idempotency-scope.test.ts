import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('clientMsgId is scoped per (session, sender) (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it("stores a service's reply under the same clientMsgId as the user's message, and each resend gets its own sender's message", async () => {
    const owner = await cluster.user();
    const assistant = await cluster.user('service');
    const user = await cluster.connect(0, owner);
    const sessionId = await cluster.session(user);
    const worker = await cluster.connect(1, assistant);
    expect(await request(worker, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const seen = collect<{ message: Message }>(user, 'message:new');

    const asked = await request<{ message: Message }>(user, 'message:send', {
      sessionId,
      clientMsgId: '1',
      content: 'what time is it?',
    });
    const answered = await request<{ message: Message }>(worker, 'message:send', {
      sessionId,
      clientMsgId: '1',
      content: 'noon',
      role: 'assistant',
    });
    expect(asked).toMatchObject({
      ok: true,
      data: { message: { seq: 1, senderId: owner.id, content: 'what time is it?' } },
    });
    expect(answered).toMatchObject({
      ok: true,
      data: { message: { seq: 2, senderId: assistant.id, role: 'assistant', content: 'noon' } },
    });
    await eventually(() => expect(seen.map((s) => s.message.content)).toEqual(['noon']));

    const userResend = await request<{ message: Message }>(user, 'message:send', {
      sessionId,
      clientMsgId: '1',
      content: 'what time is it?',
    });
    const workerResend = await request<{ message: Message }>(worker, 'message:send', {
      sessionId,
      clientMsgId: '1',
      content: 'noon',
      role: 'assistant',
    });
    expect(userResend.ok && userResend.data.message.id).toBe(asked.ok && asked.data.message.id);
    expect(workerResend.ok && workerResend.data.message.id).toBe(answered.ok && answered.data.message.id);
    const history = await request<{ messages: Message[] }>(user, 'history:get', { sessionId });
    expect(history.ok && history.data.messages.map((m) => [m.seq, m.senderId])).toEqual([
      [1, owner.id],
      [2, assistant.id],
    ]);
  });

  it("keeps an interrupted turn under its stream owner's key, so another sender's final for that stream id is its own message", async () => {
    const owner = await cluster.user();
    const assistant = await cluster.user('service');
    const worker = await cluster.connect(0, assistant);
    const user = await cluster.connect(1, owner);
    const sessionId = await cluster.session(user);
    expect(await request(worker, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const seen = collect<{ message: Message }>(user, 'message:new');
    await request(worker, 'message:delta', {
      sessionId,
      streamId: 'tts-1',
      index: 0,
      delta: 'partial',
      role: 'assistant',
    });
    worker.close();
    await eventually(() => expect(seen.map((s) => s.message.metadata['interrupted'])).toEqual([true]));
    expect(seen[0]?.message.senderId).toBe(assistant.id);
    const final = await request<{ message: Message }>(user, 'message:send', {
      sessionId,
      clientMsgId: 'u',
      content: 'mine',
      metadata: { streamId: 'tts-1' },
    });
    expect(final.ok && final.data.message).toMatchObject({ seq: 2, senderId: owner.id, content: 'mine' });
  });
});
