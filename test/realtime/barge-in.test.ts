import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeltaEvent } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import { heardText } from '../../src/services/conversation.js';
import { MemoryStreamBuffer } from '../../src/stores/streams/memory-stream-buffer.js';
import { request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

type Interrupted = { sessionId: string; streamId: string; messageId: string };

/**
 * Barge-in (`turn:interrupt`, protocol v3) on two nodes: the user on one node cuts the
 * assistant's token stream, whose worker streams on the other.
 */
describe('barge-in', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  /** A user's session on node 0, and a service worker joined to it on node 1. */
  async function conversation() {
    const user = await cluster.user();
    const speaker = await cluster.connect(0, user);
    const sessionId = await cluster.session(speaker);
    const worker = await cluster.connect(1, await cluster.user('service'));
    expect(await request(worker, 'session:join', { sessionId })).toMatchObject({ ok: true });
    return { user, speaker, sessionId, worker };
  }

  async function stream(socket: TestSocket, sessionId: string, streamId: string, deltas: string[], from = 0) {
    for (const [i, delta] of deltas.entries()) {
      expect(await request(socket, 'message:delta', { sessionId, streamId, index: from + i, delta })).toEqual({
        ok: true,
        data: {},
      });
    }
  }

  it('stores what was heard by delta index, tells every member on every node, and refuses later deltas with the message id', async () => {
    const { user, speaker, sessionId, worker } = await conversation();
    const toWorker = collect<Interrupted>(worker, 'turn:interrupted');
    const toSpeaker = collect<Interrupted>(speaker, 'turn:interrupted');
    const heardBySpeaker = collect<DeltaEvent>(speaker, 'message:delta');
    const newToWorker = collect<{ message: Message }>(worker, 'message:new');
    await stream(worker, sessionId, 'llm-1', ['The weather ', 'today is ', 'sunny and ', 'warm.']);
    await eventually(() => expect(heardBySpeaker).toHaveLength(4));

    const cut = await request<{ message: Message }>(speaker, 'turn:interrupt', {
      sessionId,
      streamId: 'llm-1',
      heardIndex: 1,
    });
    expect(cut).toMatchObject({
      ok: true,
      data: {
        message: {
          role: 'assistant',
          content: 'The weather today is ',
          metadata: { streamId: 'llm-1', interrupted: true, interruptedBy: user.id, heard: { index: 1 } },
        },
      },
    });
    const message = (cut as { data: { message: Message } }).data.message;
    const expected = { sessionId, streamId: 'llm-1', messageId: message.id };
    await eventually(() => {
      expect(toWorker).toEqual([expected]);
      expect(toSpeaker).toEqual([expected]);
      expect(newToWorker.map((n) => n.message.id)).toEqual([message.id]);
    });

    // The worker's next delta is refused and not relayed; its late final message acks the stored turn.
    expect(
      await request(worker, 'message:delta', { sessionId, streamId: 'llm-1', index: 4, delta: ' Bring' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT', details: { messageId: message.id } },
    });
    const final = await request<{ message: Message }>(worker, 'message:send', {
      sessionId,
      clientMsgId: 'final',
      role: 'assistant',
      content: 'The weather today is sunny and warm. Bring a hat.',
      metadata: { streamId: 'llm-1' },
    });
    expect(final).toMatchObject({ ok: true, data: { message: { id: message.id, content: 'The weather today is ' } } });
    await new Promise((r) => setTimeout(r, 300));
    expect(heardBySpeaker).toHaveLength(4);
    const history = await request<{ messages: Message[] }>(speaker, 'history:get', { sessionId });
    expect(history.ok && history.data.messages.map((m) => m.id)).toEqual([message.id]);

    // Interrupting again acks the stored message; an unknown stream is NOT_FOUND.
    expect(await request(worker, 'turn:interrupt', { sessionId, streamId: 'llm-1', heardChars: 2 })).toMatchObject({
      ok: true,
      data: { message: { id: message.id } },
    });
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });

  it('cuts at Unicode code points, keeps all the text when told nothing, and refuses both at once and strangers', async () => {
    const { speaker, sessionId, worker } = await conversation();
    await stream(worker, sessionId, 'tts-1', ['héllo ', '👋🏽 wör', 'ld']);
    expect(
      await request(speaker, 'turn:interrupt', { sessionId, streamId: 'tts-1', heardChars: 1, heardIndex: 0 }),
    ).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    const stranger = await cluster.connect(1, await cluster.user());
    expect(await request(stranger, 'turn:interrupt', { sessionId, streamId: 'tts-1' })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    // 'héllo ' is 6 code points, the waving hand with its skin tone 2 more.
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'tts-1', heardChars: 8 })).toMatchObject({
      ok: true,
      data: { message: { content: 'héllo 👋🏽', metadata: { heard: { chars: 8 } } } },
    });
    await stream(worker, sessionId, 'tts-2', ['all ', 'of it']);
    const whole = await request<{ message: Message }>(speaker, 'turn:interrupt', { sessionId, streamId: 'tts-2' });
    expect(whole).toMatchObject({
      ok: true,
      data: { message: { content: 'all of it', metadata: { interrupted: true } } },
    });
    expect((whole as { data: { message: Message } }).data.message.metadata).not.toHaveProperty('heard');
  });

  it('stores one message when two barge-ins race on two nodes, and tells the room once', async () => {
    const { speaker, sessionId, worker } = await conversation();
    const admin = await cluster.connect(1, await cluster.user('admin'));
    expect(await request(admin, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const told = collect<Interrupted>(worker, 'turn:interrupted');
    for (let round = 0; round < 5; round++) {
      const streamId = `race-${round}`;
      await stream(worker, sessionId, streamId, ['one ', 'two ', 'three']);
      const [a, b] = await Promise.all([
        request<{ message: Message }>(speaker, 'turn:interrupt', { sessionId, streamId, heardIndex: 0 }),
        request<{ message: Message }>(admin, 'turn:interrupt', { sessionId, streamId, heardIndex: 1 }),
      ]);
      expect(a.ok && b.ok).toBe(true);
      const [first, second] = [a, b].map((ack) => (ack as { data: { message: Message } }).data.message);
      expect(first?.id).toBe(second?.id);
      expect(['one ', 'one two ']).toContain(first?.content);
    }
    const history = await request<{ messages: Message[] }>(speaker, 'history:get', { sessionId });
    expect(history.ok && history.data.messages.map((m) => m.metadata['streamId'])).toEqual([
      'race-0',
      'race-1',
      'race-2',
      'race-3',
      'race-4',
    ]);
    await eventually(() =>
      expect(told.map((t) => t.streamId)).toEqual(['race-0', 'race-1', 'race-2', 'race-3', 'race-4']),
    );
  });

  it("cuts an assistant's speech streaming on the other node (and on the same one), keeping the audio up to the chunk heard", async () => {
    const { user, speaker, sessionId, worker } = await conversation();
    const told = collect<Interrupted>(worker, 'turn:interrupted');
    const chunks = [0, 1, 2, 3].map((i) => Buffer.alloc(1000, i + 1));
    expect(
      await request(worker, 'audio:start', { sessionId, streamId: 'speech-1', mimeType: 'audio/ogg' }),
    ).toMatchObject({ ok: true });
    for (const [index, data] of chunks.entries())
      expect(await request(worker, 'audio:chunk', { streamId: 'speech-1', index, data })).toMatchObject({ ok: true });
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'speech-1', heardChars: 3 })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });

    const cut = await request<{ message: Message }>(speaker, 'turn:interrupt', {
      sessionId,
      streamId: 'speech-1',
      heardIndex: 1,
    });
    expect(cut).toMatchObject({
      ok: true,
      data: {
        message: {
          role: 'assistant',
          contentType: 'audio',
          metadata: {
            streamId: 'speech-1',
            interrupted: true,
            interruptedBy: user.id,
            heard: { index: 1 },
            bytes: 2000,
            mimeType: 'audio/ogg',
          },
        },
      },
    });
    const message = (cut as { data: { message: Message } }).data.message;
    const link = await request<{ url: string }>(speaker, 'audio:url', { messageId: message.id });
    const bytes = Buffer.from(await (await fetch((link as { data: { url: string } }).data.url)).arrayBuffer());
    expect(bytes.equals(Buffer.concat([chunks[0] as Buffer, chunks[1] as Buffer]))).toBe(true);
    await eventually(() => expect(told).toEqual([{ sessionId, streamId: 'speech-1', messageId: message.id }]));
    expect(
      await request(worker, 'audio:chunk', { streamId: 'speech-1', index: 4, data: Buffer.alloc(10) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT', details: { messageId: message.id } },
    });
    expect(await request(worker, 'audio:end', { streamId: 'speech-1', clientMsgId: 'speech-1-end' })).toMatchObject({
      ok: true,
      data: { message: { id: message.id } },
    });
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'speech-1' })).toMatchObject({
      ok: true,
      data: { message: { id: message.id } },
    });

    // On the same node, without a heard index: all the audio so far.
    const near = await cluster.connect(0, await cluster.user('service'));
    await request(near, 'audio:start', { sessionId, streamId: 'speech-2', mimeType: 'audio/ogg' });
    for (const [index, data] of chunks.entries())
      await request(near, 'audio:chunk', { streamId: 'speech-2', index, data });
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'speech-2' })).toMatchObject({
      ok: true,
      data: { message: { contentType: 'audio', metadata: { bytes: 4000, interrupted: true } } },
    });
    // Speech that ended before the barge-in: the barge-in acks what was stored.
    await request(worker, 'audio:start', { sessionId, streamId: 'speech-3', mimeType: 'audio/ogg' });
    await request(worker, 'audio:chunk', { streamId: 'speech-3', index: 0, data: Buffer.alloc(10) });
    const ended = await request<{ message: Message }>(worker, 'audio:end', {
      streamId: 'speech-3',
      clientMsgId: 'speech-3-end',
    });
    expect(ended).toMatchObject({ ok: true, data: { message: { metadata: { streamId: 'speech-3' } } } });
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'speech-3' })).toMatchObject({
      ok: true,
      data: { message: { id: (ended as { data: { message: Message } }).data.message.id } },
    });
    // A user's own voice is not an assistant's turn to cut.
    await request(speaker, 'audio:start', { sessionId, streamId: 'mine', mimeType: 'audio/ogg' });
    await request(speaker, 'audio:chunk', { streamId: 'mine', index: 0, data: Buffer.alloc(10) });
    expect(await request(worker, 'turn:interrupt', { sessionId, streamId: 'mine' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
  });

  it('counts interruptions in /metrics', async () => {
    const text = await (await fetch(`${cluster.urls[0]}/metrics`)).text();
    expect(Number(/^voicehelper_turn_interruptions_total\{[^}]*\} (\d+)/m.exec(text)?.[1])).toBeGreaterThan(0);
  });
});

describe('heard text', () => {
  it('cuts by code points or at a delta end', () => {
    const stream = { text: 'ab👋🏽c', deltaEnds: [2, 10, 11] };
    expect(heardText(stream, { chars: 3 })).toBe('ab👋');
    expect(heardText(stream, { index: 0 })).toBe('ab');
    expect(heardText(stream, { index: 1 })).toBe('ab👋🏽');
    expect(heardText(stream, { index: 7 })).toBe('ab👋🏽c');
    expect(heardText(stream, undefined)).toBe('ab👋🏽c');
  });

  it('refuses deltas of an interrupted stream in the embedded buffer as in Redis', async () => {
    const buffer = new MemoryStreamBuffer(1024);
    const delta = (index: number) => ({
      sessionId: 's',
      streamId: 'x',
      userId: 'u',
      role: 'assistant' as const,
      index,
      delta: 'é',
      nodeId: 'n',
      socketId: 'k',
    });
    await buffer.append(delta(0));
    await buffer.append(delta(1));
    expect(await buffer.interrupt('s', 'x')).toMatchObject({ text: 'éé', deltaEnds: [2, 4], userId: 'u' });
    await expect(buffer.append(delta(2))).rejects.toMatchObject({ code: 'CONFLICT', details: undefined });
    await buffer.interrupted('s', 'x', 'm-1');
    await expect(buffer.append(delta(2))).rejects.toMatchObject({ code: 'CONFLICT', details: { messageId: 'm-1' } });
    expect(await buffer.interrupt('s', 'x')).toBeUndefined();
    expect(await buffer.interruptedBy('s', 'x')).toBe('m-1');
  });
});
