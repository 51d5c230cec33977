import { randomBytes } from 'node:crypto';
import type { Socket as NetSocket } from 'node:net';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

/** What a socket receives of the live relay, in the order it arrives. */
type LiveEvent = { event: string; payload: Record<string, unknown> };

function liveEvents(socket: TestSocket): LiveEvent[] {
  const seen: LiveEvent[] = [];
  for (const event of ['audio:started', 'audio:frame', 'audio:ended'])
    socket.on(event, (payload: Record<string, unknown>) => seen.push({ event, payload }));
  return seen;
}

function frames(seen: LiveEvent[]): { index: number; data: Buffer; dropped?: number }[] {
  return seen
    .filter((e) => e.event === 'audio:frame')
    .map((e) => ({
      index: e.payload['index'] as number,
      data: Buffer.from(e.payload['data'] as Uint8Array),
      ...(e.payload['dropped'] === undefined ? {} : { dropped: e.payload['dropped'] as number }),
    }));
}

/** Everything the server pushed to `socket` before this resolves has arrived (pushes and acks share one connection). */
async function roundTrip(socket: TestSocket): Promise<void> {
  expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });
}

/** The raw TCP connection of a websocket client, to stop and resume reading from it. */
function tcpOf(socket: TestSocket): NetSocket {
  const engine = socket.io.engine as unknown as { transport: { ws: { _socket: NetSocket } } };
  return engine.transport.ws._socket;
}

describe('live audio relay (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, {
      AUDIO_STREAMS_PER_SOCKET: '1',
      AUDIO_STREAM_MAX_BYTES: String(100 * 1024 * 1024),
      RATE_LIMIT_AUDIO_CHUNK: '100000/10s',
      LIVE_AUDIO_BUFFER_FRAMES: '8',
      OUTBOUND_SOFT_LIMIT_BYTES: '65536',
    });
  });
  afterAll(() => cluster?.stop());

  /** A user, their socket on node 0 (the one that will speak) and a session it created. */
  async function speakerInSession() {
    const owner = await cluster.user();
    const speaker = await cluster.connect(0, owner);
    return { owner, speaker, sessionId: await cluster.session(speaker) };
  }

  async function join(socket: TestSocket, sessionId: string, liveAudio?: boolean): Promise<void> {
    const ack = await request(socket, 'session:join', { sessionId, ...(liveAudio === undefined ? {} : { liveAudio }) });
    expect(ack).toMatchObject({ ok: true });
  }

  it("relays every stream to the session's liveAudio sockets on both nodes, the speaker's other device included, in order with the same bytes, then its message", async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    await join(speaker, sessionId, true);
    const otherDevice = await cluster.connect(0, owner);
    await join(otherDevice, sessionId, true);
    const listener = await cluster.connect(1, owner);
    await join(listener, sessionId, true);
    const textOnly = await cluster.connect(1, owner);
    await join(textOnly, sessionId);
    const rejoined = await cluster.connect(1, owner);
    await join(rejoined, sessionId, true);
    await join(rejoined, sessionId, false);
    const left = await cluster.connect(0, owner);
    await join(left, sessionId, true);
    expect(await request(left, 'session:leave', { sessionId })).toEqual({ ok: true, data: {} });
    const seen = new Map(
      [speaker, otherDevice, listener, textOnly, rejoined, left].map((socket) => [socket, liveEvents(socket)]),
    );

    expect(
      await request(speaker, 'audio:start', { sessionId, streamId: 'mic', mimeType: 'audio/opus', sampleRate: 48_000 }),
    ).toEqual({ ok: true, data: {} });
    const chunks = Array.from({ length: 30 }, (_, i) => randomBytes(1 + ((i * 997) % 4_000)));
    for (const [index, data] of chunks.entries())
      expect(await request(speaker, 'audio:chunk', { streamId: 'mic', index, data })).toEqual({
        ok: true,
        data: { received: index },
      });
    // A resent chunk is acknowledged, and relayed no second time.
    expect(await request(speaker, 'audio:chunk', { streamId: 'mic', index: 29, data: chunks[29] })).toMatchObject({
      ok: true,
    });
    const ended = await request<{ message: Message }>(speaker, 'audio:end', { streamId: 'mic', clientMsgId: 'v1' });
    const messageId = ended.ok ? ended.data.message.id : 'missing';

    for (const socket of [otherDevice, listener]) {
      const events = seen.get(socket) as LiveEvent[];
      await eventually(() => expect(events.at(-1)?.event).toBe('audio:ended'));
      expect(events[0]).toEqual({
        event: 'audio:started',
        payload: {
          sessionId,
          streamId: 'mic',
          senderId: owner.id,
          role: 'user',
          mimeType: 'audio/opus',
          sampleRate: 48_000,
        },
      });
      expect(events.at(-1)?.payload).toEqual({ sessionId, streamId: 'mic', messageId });
      const got = frames(events);
      expect(got.map((f) => f.index)).toEqual(chunks.map((_, i) => i));
      expect(got.every((f, i) => f.data.equals(chunks[i] as Buffer) && f.dropped === undefined)).toBe(true);
      expect(events).toHaveLength(chunks.length + 2);
    }
    // The sender itself, and sockets without liveAudio (never asked, rejoined without it, left), get none of it.
    for (const socket of [speaker, textOnly, rejoined, left]) {
      await roundTrip(socket);
      expect(seen.get(socket)).toEqual([]);
    }
  });

  it('barge-in: the worker hears the user start speaking over its speech and interrupts it; the user hears the speech end as interrupted', async () => {
    const owner = await cluster.user();
    const service = await cluster.user('service');
    const user = await cluster.connect(1, owner);
    const sessionId = await cluster.session(user);
    await join(user, sessionId, true);
    const worker = await cluster.connect(0, service);
    await join(worker, sessionId, true);
    const heardByUser = liveEvents(user);
    const heardByWorker = liveEvents(worker);
    await request(worker, 'audio:start', { sessionId, streamId: 'tts', mimeType: 'audio/mpeg' });
    const speech = [randomBytes(300), randomBytes(300), randomBytes(300)];
    for (const [index, data] of speech.entries())
      await request(worker, 'audio:chunk', { streamId: 'tts', index, data });
    await eventually(() => expect(frames(heardByUser)).toHaveLength(3));
    expect(heardByUser[0]?.payload).toMatchObject({ streamId: 'tts', senderId: service.id, role: 'assistant' });

    await request(user, 'audio:start', { sessionId, streamId: 'barge', mimeType: 'audio/webm' });
    await request(user, 'audio:chunk', { streamId: 'barge', index: 0, data: randomBytes(200) });
    await eventually(() => expect(heardByWorker.map((e) => e.event)).toEqual(['audio:started', 'audio:frame']));
    expect(heardByWorker[0]?.payload).toMatchObject({ streamId: 'barge', senderId: owner.id, role: 'user' });
    const cut = await request<{ message: Message }>(worker, 'turn:interrupt', {
      sessionId,
      streamId: 'tts',
      heardIndex: 1,
    });
    expect(cut.ok).toBe(true);
    await eventually(() => expect(heardByUser.at(-1)?.event).toBe('audio:ended'));
    expect(heardByUser.at(-1)?.payload).toEqual({
      sessionId,
      streamId: 'tts',
      discarded: true,
      reason: 'interrupted',
      messageId: cut.ok ? cut.data.message.id : '',
    });
    expect(await request(worker, 'audio:chunk', { streamId: 'tts', index: 3, data: randomBytes(10) })).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT' },
    });
  });

  it('refuses a stream id open in the session on another node with CONFLICT, until that stream ends', async () => {
    const owner = await cluster.user();
    const first = await cluster.connect(0, owner);
    const sessionId = await cluster.session(first);
    const second = await cluster.connect(1, owner);
    await join(second, sessionId);
    const otherSession = await cluster.session(second);
    expect(await request(first, 'audio:start', { sessionId, streamId: 'dup', mimeType: 'audio/ogg' })).toMatchObject({
      ok: true,
    });
    expect(await request(second, 'audio:start', { sessionId, streamId: 'dup', mimeType: 'audio/ogg' })).toMatchObject({
      ok: false,
      error: { code: 'CONFLICT' },
    });
    // A resent start by its own socket is no conflict, and the id is free in another session.
    expect(await request(first, 'audio:start', { sessionId, streamId: 'dup', mimeType: 'audio/ogg' })).toMatchObject({
      ok: true,
    });
    expect(
      await request(second, 'audio:start', { sessionId: otherSession, streamId: 'dup', mimeType: 'audio/ogg' }),
    ).toMatchObject({ ok: true });
    expect(await request(second, 'audio:abort', { streamId: 'dup' })).toEqual({ ok: true, data: {} });
    expect(await request(first, 'audio:abort', { streamId: 'dup' })).toEqual({ ok: true, data: {} });
    expect(await request(second, 'audio:start', { sessionId, streamId: 'dup', mimeType: 'audio/ogg' })).toMatchObject({
      ok: true,
    });
  });

  it('aborts a stream: listeners hear it discarded, its slot is free at once, and nothing is stored', async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    const listener = await cluster.connect(1, owner);
    await join(listener, sessionId, true);
    const heard = liveEvents(listener);
    await request(speaker, 'audio:start', { sessionId, streamId: 'oops', mimeType: 'audio/wav' });
    await request(speaker, 'audio:chunk', { streamId: 'oops', index: 0, data: randomBytes(500) });
    // One stream per socket in this cluster: a second is refused while the first is open.
    expect(await request(speaker, 'audio:start', { sessionId, streamId: 'next', mimeType: 'audio/wav' })).toMatchObject(
      { ok: false, error: { code: 'RATE_LIMITED' } },
    );
    expect(await request(speaker, 'audio:abort', { streamId: 'oops' })).toEqual({ ok: true, data: {} });
    await eventually(() => expect(heard.at(-1)?.event).toBe('audio:ended'));
    expect(heard.map((e) => e.event)).toEqual(['audio:started', 'audio:frame', 'audio:ended']);
    expect(heard[2]?.payload).toEqual({ sessionId, streamId: 'oops', discarded: true, reason: 'aborted' });
    expect(await request(speaker, 'audio:start', { sessionId, streamId: 'next', mimeType: 'audio/wav' })).toMatchObject(
      { ok: true },
    );
    expect(await request(speaker, 'audio:end', { streamId: 'oops', clientMsgId: 'gone' })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await request(speaker, 'audio:abort', { streamId: 'oops' })).toEqual({ ok: true, data: {} });
    expect(await cluster.nodes[0]?.stores.objects.list(`audio/${sessionId}/`)).toEqual([]);
    const rows = await cluster
      .sql()
      .query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(rows.rows[0].n).toBe(0);
  });

  it("gives a socket that begins listening while a stream is open that stream's audio:started, once, on either node; earlier listeners get no second one", async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    const early = await cluster.connect(1, owner);
    await join(early, sessionId, true);
    const earlyHeard = liveEvents(early);
    await request(speaker, 'audio:start', {
      sessionId,
      streamId: 'ongoing',
      mimeType: 'audio/l16',
      sampleRate: 16_000,
    });
    await request(speaker, 'audio:chunk', { streamId: 'ongoing', index: 0, data: randomBytes(640) });
    await eventually(() => expect(earlyHeard.map((e) => e.event)).toEqual(['audio:started', 'audio:frame']));
    // Late, on the speaker's node and on the other one (which follows the session already).
    const lateHere = await cluster.connect(0, owner);
    const lateThere = await cluster.connect(1, owner);
    const hereHeard = liveEvents(lateHere);
    const thereHeard = liveEvents(lateThere);
    await join(lateHere, sessionId, true);
    await join(lateThere, sessionId, true);
    const started = {
      sessionId,
      streamId: 'ongoing',
      senderId: owner.id,
      role: 'user',
      mimeType: 'audio/l16',
      sampleRate: 16_000,
    };
    for (const heard of [hereHeard, thereHeard])
      await eventually(() =>
        expect(heard.filter((e) => e.event === 'audio:started').map((e) => e.payload)).toEqual([started]),
      );
    await request(speaker, 'audio:chunk', { streamId: 'ongoing', index: 1, data: randomBytes(640) });
    expect(await request(speaker, 'audio:end', { streamId: 'ongoing', clientMsgId: 'late' })).toMatchObject({
      ok: true,
    });
    for (const heard of [hereHeard, thereHeard, earlyHeard]) {
      await eventually(() => expect(heard.at(-1)?.event).toBe('audio:ended'));
      expect(heard.filter((e) => e.event === 'audio:started')).toHaveLength(1);
      expect(frames(heard).map((f) => f.index)).toContain(1);
    }
    expect(earlyHeard.map((e) => e.event)).toEqual(['audio:started', 'audio:frame', 'audio:frame', 'audio:ended']);
  });

  it('ends a stream whose sender went away as discarded (socket_gone) for its listeners', async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    const listener = await cluster.connect(1, owner);
    await join(listener, sessionId, true);
    const heard = liveEvents(listener);
    await request(speaker, 'audio:start', { sessionId, streamId: 'cut-off', mimeType: 'audio/ogg' });
    await request(speaker, 'audio:chunk', { streamId: 'cut-off', index: 0, data: randomBytes(100) });
    speaker.close();
    await eventually(() => expect(heard.at(-1)?.event).toBe('audio:ended'));
    expect(heard.map((e) => e.event)).toEqual(['audio:started', 'audio:frame', 'audio:ended']);
    expect(heard[2]?.payload).toEqual({ sessionId, streamId: 'cut-off', discarded: true, reason: 'socket_gone' });
  });

  it('drops the oldest frames of a listener that stops reading, counting them, while the speaker and another listener go on', async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    const fast = await cluster.connect(1, owner);
    await join(fast, sessionId, true);
    const slow = await cluster.connect(1, owner);
    await join(slow, sessionId, true);
    const heardFast = liveEvents(fast);
    const heardSlow = liveEvents(slow);
    const node = cluster.nodes[1];
    const droppedOnNode = async () => {
      const metric = await node?.metrics.registry.getSingleMetric('voicehelper_audio_frames_dropped_total')?.get();
      return metric?.values[0]?.value ?? 0;
    };
    const before = await droppedOnNode();

    tcpOf(slow).pause();
    await request(speaker, 'audio:start', { sessionId, streamId: 'long', mimeType: 'audio/l16', sampleRate: 16_000 });
    const sent: Buffer[] = [];
    // Until the slow socket's buffers (the kernel's first) are full and the node drops frames for it.
    while ((await droppedOnNode()) === before) {
      if (sent.length >= 3_000) throw new Error('no frame was ever dropped');
      for (let i = 0; i < 10; i++) {
        const data = randomBytes(60_000);
        const index = sent.length;
        sent.push(data);
        expect(await request(speaker, 'audio:chunk', { streamId: 'long', index, data })).toEqual({
          ok: true,
          data: { received: index },
        });
      }
    }
    const ended = await request<{ message: Message }>(speaker, 'audio:end', { streamId: 'long', clientMsgId: 'l' });
    expect(ended.ok).toBe(true);

    await eventually(() => expect(heardFast.at(-1)?.event).toBe('audio:ended'));
    const fastFrames = frames(heardFast);
    expect(fastFrames.map((f) => f.index)).toEqual(sent.map((_, i) => i));
    expect(fastFrames.every((f) => f.dropped === undefined && f.data.equals(sent[f.index] as Buffer))).toBe(true);

    tcpOf(slow).resume();
    await eventually(() => expect(heardSlow.at(-1)?.event).toBe('audio:ended'), 30_000);
    const slowFrames = frames(heardSlow);
    const indexes = slowFrames.map((f) => f.index);
    expect(indexes).toEqual([...new Set(indexes)].sort((a, b) => a - b));
    expect(slowFrames.every((f) => f.data.equals(sent[f.index] as Buffer))).toBe(true);
    // Each gap in what it got is announced by the frame after it (or the end), exactly.
    let expected = 0;
    for (const frame of slowFrames) {
      expect(frame.dropped ?? 0).toBe(frame.index - expected);
      expected = frame.index + 1;
    }
    const end = heardSlow.at(-1)?.payload as { dropped?: number; messageId?: string };
    expect(end.dropped ?? 0).toBe(sent.length - expected);
    expect(end.messageId).toBe(ended.ok ? ended.data.message.id : '');
    const droppedForSlow = sent.length - slowFrames.length;
    expect(droppedForSlow).toBeGreaterThan(0);
    expect((await droppedOnNode()) - before).toBe(droppedForSlow);
  });

  it("has a node follow a session's audio channel only while one of its sockets listens live", async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    const config = cluster.nodes[0]?.config.redis;
    const channel = `${config?.mode === 'external' ? config.keyPrefix : ''}vh:audio:${sessionId}`;
    // One subscriber per node: sharded ones on a Redis Cluster, counted on every master.
    const redis = cluster.redis();
    const subscribers = async () => {
      const counts = (await Promise.all(
        redis instanceof Cluster
          ? redis.nodes('master').map((node) => node.pubsub('SHARDNUMSUB', channel))
          : [redis.pubsub('NUMSUB', channel)],
      )) as [string, number][];
      return counts.reduce((sum, [, count]) => sum + Number(count), 0);
    };
    const reader = await cluster.connect(1, owner);
    await join(reader, sessionId);
    expect(await subscribers()).toBe(0);
    const first = await cluster.connect(1, owner);
    await join(first, sessionId, true);
    const second = await cluster.connect(1, owner);
    await join(second, sessionId, true);
    expect(await subscribers()).toBe(1);
    await join(speaker, sessionId, true);
    expect(await subscribers()).toBe(2);
    await join(speaker, sessionId, false);
    await request(first, 'session:leave', { sessionId });
    await eventually(async () => expect(await subscribers()).toBe(1));
    second.close();
    await eventually(async () => expect(await subscribers()).toBe(0));
  });

  it('sends none of it to the readers of a session that no socket listens to live', async () => {
    const { owner, speaker, sessionId } = await speakerInSession();
    const reader = await cluster.connect(1, owner);
    await join(reader, sessionId);
    const news = collect<{ message: Message }>(reader, 'message:new');
    const heard = liveEvents(reader);
    await request(speaker, 'audio:start', { sessionId, streamId: 'quiet', mimeType: 'audio/ogg' });
    await request(speaker, 'audio:chunk', { streamId: 'quiet', index: 0, data: randomBytes(10) });
    await request(speaker, 'audio:end', { streamId: 'quiet', clientMsgId: 'q' });
    await eventually(() => expect(news).toHaveLength(1));
    await roundTrip(reader);
    expect(heard).toEqual([]);
  });

  it("tells the listeners that a stream ended (discarded, socket_gone) when the speaker's node dies mid-stream", async () => {
    const owner = await cluster.user();
    const sessionId = await cluster.session(await cluster.connect(0, owner));
    const listener = await cluster.connect(0, owner);
    await join(listener, sessionId, true);
    const seen = liveEvents(listener);
    // The speaker is on a node of its own process, killed while its stream is open: no node
    // is left to tell the stream's end, so the listener's node must.
    const doomed = await cluster.spawnNode();
    const speaker = await openClient(doomed.url, { token: owner.token });
    try {
      await join(speaker, sessionId);
      expect(
        await request(speaker, 'audio:start', { sessionId, streamId: 'cut', mimeType: 'audio/webm' }),
      ).toMatchObject({
        ok: true,
      });
      for (const index of [0, 1])
        expect(await request(speaker, 'audio:chunk', { streamId: 'cut', index, data: randomBytes(64) })).toMatchObject({
          ok: true,
        });
      await eventually(() => expect(frames(seen).map((f) => f.index)).toEqual([0, 1]));
      doomed.process.kill('SIGKILL');
      // Within NODE_ALIVE_MS (3 s here) and a sweep, once the node's heartbeat has expired.
      await eventually(
        () =>
          expect(seen.filter((e) => e.event === 'audio:ended').map((e) => e.payload)).toEqual([
            { sessionId, streamId: 'cut', discarded: true, reason: 'socket_gone' },
          ]),
        15_000,
      );
      expect(seen.map((e) => e.event)).toEqual(['audio:started', 'audio:frame', 'audio:frame', 'audio:ended']);
    } finally {
      speaker.close();
    }
  });
});

describe('live audio streams discarded by the server', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { AUDIO_STREAM_TIMEOUT_MS: '500', AUDIO_STREAM_MAX_BYTES: '2000' });
  });
  afterAll(() => cluster?.stop());

  it('tells listeners on the other node why: a stream that went quiet (timeout) and one past its size (too_large)', async () => {
    const owner = await cluster.user();
    const speaker = await cluster.connect(0, owner);
    const sessionId = await cluster.session(speaker);
    const listener = await cluster.connect(1, owner);
    expect(await request(listener, 'session:join', { sessionId, liveAudio: true })).toMatchObject({ ok: true });
    const heard = liveEvents(listener);

    await request(speaker, 'audio:start', { sessionId, streamId: 'quiet', mimeType: 'audio/l16', sampleRate: 16_000 });
    await request(speaker, 'audio:chunk', { streamId: 'quiet', index: 0, data: randomBytes(640) });
    await eventually(() =>
      expect(heard.find((e) => e.event === 'audio:ended')?.payload).toEqual({
        sessionId,
        streamId: 'quiet',
        discarded: true,
        reason: 'timeout',
      }),
    );

    await request(speaker, 'audio:start', { sessionId, streamId: 'long', mimeType: 'audio/l16', sampleRate: 16_000 });
    await request(speaker, 'audio:chunk', { streamId: 'long', index: 0, data: randomBytes(1500) });
    expect(
      await request(speaker, 'audio:chunk', { streamId: 'long', index: 1, data: randomBytes(1500) }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
    await eventually(() =>
      expect(heard.filter((e) => e.event === 'audio:ended').at(-1)?.payload).toEqual({
        sessionId,
        streamId: 'long',
        discarded: true,
        reason: 'too_large',
      }),
    );
    // The frame past the size was never relayed.
    expect(frames(heard.filter((e) => e.payload['streamId'] === 'long')).map((f) => f.index)).toEqual([0]);
  });
});
