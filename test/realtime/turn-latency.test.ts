import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { nextEvent, request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { call } from '../helpers/http.js';

type Turn = {
  endedAt: string;
  firstDeltaMs: number | null;
  firstAudioMs: number | null;
  finalMs: number | null;
  interrupted: boolean;
};

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The sum over both nodes of one series of the Prometheus text (a histogram's _count). */
async function countOf(cluster: TestCluster, series: string): Promise<number> {
  let sum = 0;
  for (const url of cluster.urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    sum += Number(new RegExp(`^${series}\\{[^}]*\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  }
  return sum;
}

/** Turn latency on two nodes: the user talks on one, the worker answers from the other. */
describe('turn latency', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('measures first delta, first audio and final answer from the end of each user turn, per session and in /metrics (the worker on the other node)', async () => {
    const user = await cluster.user();
    const speaker = await cluster.connect(0, user);
    const sessionId = await cluster.session(speaker);
    const service = await cluster.user('service');
    const worker = await cluster.connect(1, service);
    expect(await request(worker, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const before = {
      delta: await countOf(cluster, 'voicehelper_turn_first_delta_seconds_count'),
      audio: await countOf(cluster, 'voicehelper_turn_first_audio_seconds_count'),
      final: await countOf(cluster, 'voicehelper_turn_final_seconds_count'),
    };

    // Turn 1: the worker answers with a delta, then audio, then its final message.
    const heard = nextEvent<{ message: Message }>(worker, 'message:new');
    expect(
      await request(speaker, 'message:send', { sessionId, clientMsgId: 'q1', content: 'What is the weather?' }),
    ).toMatchObject({ ok: true });
    await heard;
    await pause(120);
    await request(worker, 'message:delta', { sessionId, streamId: 'a1', index: 0, delta: 'Sunny' });
    await request(worker, 'message:delta', { sessionId, streamId: 'a1', index: 1, delta: ' today' });
    await pause(60);
    await request(worker, 'audio:start', { sessionId, streamId: 'voice-a1', mimeType: 'audio/ogg' });
    await request(worker, 'audio:chunk', { streamId: 'voice-a1', index: 0, data: randomBytes(512) });
    await request(worker, 'audio:chunk', { streamId: 'voice-a1', index: 1, data: randomBytes(512) });
    await pause(60);
    expect(
      await request(worker, 'message:send', {
        sessionId,
        clientMsgId: 'a1',
        role: 'assistant',
        content: 'Sunny today.',
        metadata: { streamId: 'a1' },
      }),
    ).toMatchObject({ ok: true });

    // Turn 2: the user barges in on the second answer.
    const heardAgain = nextEvent<{ message: Message }>(worker, 'message:new');
    await request(speaker, 'message:send', { sessionId, clientMsgId: 'q2', content: 'And tomorrow?' });
    await heardAgain;
    await request(worker, 'message:delta', { sessionId, streamId: 'a2', index: 0, delta: 'Tomorrow it will' });
    expect(await request(speaker, 'turn:interrupt', { sessionId, streamId: 'a2', heardIndex: 0 })).toMatchObject({
      ok: true,
    });

    const turns = () =>
      call(cluster.urls[1] as string, 'GET', `/v1/sessions/${sessionId}/turns`, { token: user.token });
    // The marks are recorded beside the messages, not before their acks.
    await eventually(async () => {
      const answer = await turns();
      expect(answer.status).toBe(200);
      expect(answer.body['turns'][0]).toMatchObject({ interrupted: true, firstDeltaMs: expect.any(Number) });
    });
    const [second, first] = (await turns()).body['turns'] as [Turn, Turn];
    expect(second).toMatchObject({ firstAudioMs: null, finalMs: null, interrupted: true });
    expect(first.interrupted).toBe(false);
    expect(first.firstDeltaMs).toBeGreaterThanOrEqual(120);
    expect(first.firstAudioMs).toBeGreaterThanOrEqual(first.firstDeltaMs as number);
    expect(first.finalMs).toBeGreaterThanOrEqual(first.firstAudioMs as number);
    expect(Date.parse(second.endedAt)).toBeGreaterThan(Date.parse(first.endedAt));

    await eventually(async () => {
      expect(await countOf(cluster, 'voicehelper_turn_first_delta_seconds_count')).toBe(before.delta + 2);
      expect(await countOf(cluster, 'voicehelper_turn_first_audio_seconds_count')).toBe(before.audio + 1);
      expect(await countOf(cluster, 'voicehelper_turn_final_seconds_count')).toBe(before.final + 1);
    });

    // The figures are the owner's and admins' only.
    const admin = await cluster.user('admin');
    expect(
      (await call(cluster.urls[0] as string, 'GET', `/v1/sessions/${sessionId}/turns`, { token: admin.token })).status,
    ).toBe(200);
    expect(
      (await call(cluster.urls[0] as string, 'GET', `/v1/sessions/${sessionId}/turns`, { token: service.token }))
        .status,
    ).toBe(403);
    expect(
      (
        await call(cluster.urls[0] as string, 'GET', `/v1/sessions/${sessionId}/turns`, {
          token: (await cluster.user()).token,
        })
      ).status,
    ).toBe(403);
    expect(
      (await call(cluster.urls[0] as string, 'GET', '/v1/sessions/nope/turns', { token: user.token })).status,
    ).toBe(400);
  });
});
