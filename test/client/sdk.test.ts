import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AudioFrame,
  backoffDelay,
  decodeL16,
  encodeL16,
  L16Framer,
  type Message,
  type PushOf,
  tokenExpiry,
  VoiceHelperClient,
  VoiceHelperError,
  wavFromL16,
} from '../../client/src/index.js';
import { SessionLog } from '../../client/src/session-log.js';
import { eventually, TestCluster } from '../helpers/cluster.js';

const message = (seq: number): Message => ({
  id: `m${seq}`,
  sessionId: 's',
  seq,
  role: 'user',
  content: `#${seq}`,
  contentType: 'text',
  metadata: {},
  clientMsgId: null,
  senderId: null,
  createdAt: new Date(0).toISOString(),
});

describe('client SDK building blocks', () => {
  it('hands on each seq once, in order, whatever order and how often messages arrive', () => {
    const seen: number[] = [];
    const log = new SessionLog('s', 3, (m) => seen.push(m.seq));
    expect(log.accept(message(2))).toBe(false); // already handed on
    expect(log.accept(message(6))).toBe(true); // waits for 4 and 5
    expect(log.accept(message(5))).toBe(true);
    expect(log.accept(message(4))).toBe(false);
    expect(log.accept(message(5))).toBe(false);
    expect(log.accept(message(7))).toBe(false);
    expect(seen).toEqual([4, 5, 6, 7]);
    log.startAt(10);
    log.accept(message(9));
    log.accept(message(11));
    expect(seen).toEqual([4, 5, 6, 7, 11]);
  });

  it('backs off exponentially with jitter, within bounds, and reads a JWT expiry', () => {
    const options = { initialMs: 100, maxMs: 1_000, jitter: 0.5 };
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(1_000, 100 * 2 ** attempt);
      const delay = backoffDelay(attempt, options);
      expect(delay).toBeGreaterThanOrEqual(ceiling / 2);
      expect(delay).toBeLessThanOrEqual(ceiling);
    }
    const payload = btoa(JSON.stringify({ exp: 1_900_000_000 })).replace(/=+$/, '');
    expect(tokenExpiry(`x.${payload}.y`)).toBe(1_900_000_000_000);
    expect(tokenExpiry('not a token')).toBeUndefined();
  });

  it('writes audio/l16 big-endian, plays it back as a little-endian WAV, and frames a 48 kHz capture into 20 ms at 16 kHz', () => {
    const pcm = encodeL16(Float32Array.of(0, 0.5, -1, 1, 2));
    expect([...pcm]).toEqual([0, 0, 0x40, 0x00, 0x80, 0x00, 0x7f, 0xff, 0x7f, 0xff]);
    expect([...decodeL16(pcm)].map((v) => Math.round(v * 1000) / 1000)).toEqual([0, 0.5, -1, 1, 1]);

    const wav = wavFromL16([pcm.subarray(0, 4), pcm.subarray(4)], 16_000);
    const view = new DataView(wav.buffer);
    expect(new TextDecoder().decode(wav.subarray(0, 4))).toBe('RIFF');
    expect(new TextDecoder().decode(wav.subarray(8, 16))).toBe('WAVEfmt ');
    expect(view.getUint32(24, true)).toBe(16_000);
    expect(view.getUint32(40, true)).toBe(10);
    expect([...wav.subarray(44)]).toEqual([0, 0, 0x00, 0x40, 0x00, 0x80, 0xff, 0x7f, 0xff, 0x7f]);

    // One second of a 440 Hz tone in uneven capture buffers: 50 frames of 320 samples that
    // still hold the tone (880 zero crossings), whatever the buffers' boundaries.
    const tone = Float32Array.from({ length: 48_000 }, (_, i) => 0.8 * Math.sin((2 * Math.PI * 440 * i) / 48_000));
    const framer = new L16Framer({ inputRate: 48_000 });
    const frames: Uint8Array[] = [];
    for (let offset = 0, size = 1; offset < tone.length; offset += size, size = (size * 7 + 3) % 997)
      frames.push(...framer.push(tone.subarray(offset, offset + size)));
    expect(framer.flush()).toBeUndefined();
    expect(frames.length).toBe(50);
    expect(frames.every((frame) => frame.byteLength === 640)).toBe(true);
    const samples = frames.flatMap((frame) => [...decodeL16(frame)]);
    const crossings = samples.filter((v, i) => i > 0 && Math.sign(v) !== Math.sign(samples[i - 1] ?? 0)).length;
    expect(Math.abs(crossings - 880)).toBeLessThanOrEqual(2);
    expect(Math.max(...samples)).toBeGreaterThan(0.7);
  });
});

// Two nodes, one of them a process of its own that the test kills mid-conversation.
describe('client SDK against two nodes, one killed mid-conversation', () => {
  let cluster: TestCluster;
  const clients: VoiceHelperClient[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
  });

  const track = (client: VoiceHelperClient) => {
    clients.push(client);
    const seen: Message[] = [];
    client.on('message', (m) => seen.push(m));
    return seen;
  };

  it('resumes by itself: every message reaches both apps once, in order, and every send is acked once', async () => {
    const doomed = await cluster.spawnNode();
    const survivor = cluster.urls[0] as string;
    const alice = await cluster.user();
    const worker = await cluster.user('service');

    const states: string[] = [];
    const aliceClient = new VoiceHelperClient({
      url: [doomed.url, survivor],
      token: () => alice.token,
      ackTimeoutMs: 3_000,
      backoff: { initialMs: 50, maxMs: 500 },
    });
    aliceClient.on('state', (state) => states.push(state));
    const workerClient = new VoiceHelperClient({ url: survivor, token: () => worker.token });
    const aliceSeen = track(aliceClient);
    const workerSeen = track(workerClient);
    await aliceClient.connect();
    await workerClient.connect();
    expect(aliceClient.nodeId).toMatch(/^spawned-/);

    const { session } = await aliceClient.request('session:create', { title: 'resume' });
    await aliceClient.join(session.id);
    await workerClient.join(session.id);

    // Alice queues 40 messages at once; the worker answers every fifth; the node under
    // Alice dies after the first few were acked.
    const sends: Promise<Message>[] = [];
    for (let i = 0; i < 40; i++) sends.push(aliceClient.send(session.id, `user ${i}`));
    const replies: Promise<Message>[] = [];
    let answered = 0;
    workerClient.on('message', (m) => {
      if (m.role === 'user' && Number(m.content.split(' ')[1]) % 5 === 0) {
        replies.push(workerClient.send(session.id, `reply ${answered++}`, { role: 'assistant' }));
      }
    });
    await sends[5];
    doomed.process.kill('SIGKILL');

    const acked = await Promise.all(sends);
    expect(acked.map((m) => m.content)).toEqual(Array.from({ length: 40 }, (_, i) => `user ${i}`));
    await eventually(() => expect(replies.length).toBe(8), 20_000);
    await Promise.all(replies);

    // Reconnected to the survivor, without the app doing anything.
    expect(states).toContain('disconnected');
    expect(aliceClient.nodeId).toBe(cluster.nodes[0]?.config.nodeId);

    const rows = await cluster
      .sql()
      .query<{ seq: number; content: string }>(
        'select seq::int as seq, content from messages where session_id = $1 order by seq',
        [session.id],
      );
    expect(rows.rows.length).toBe(48);
    // Each of Alice's messages stored once (resends took the same clientMsgId), in her order.
    expect(rows.rows.map((r) => r.content).filter((c) => c.startsWith('user '))).toEqual(
      Array.from({ length: 40 }, (_, i) => `user ${i}`),
    );
    const expected = rows.rows.map((r) => [r.seq, r.content]);
    await eventually(() => {
      expect(aliceSeen.map((m) => [m.seq, m.content])).toEqual(expected);
      expect(workerSeen.map((m) => [m.seq, m.content])).toEqual(expected);
    }, 20_000);
    expect(aliceClient.pending(session.id)).toBe(0);
  }, 90_000);

  it('asks for a new token when the server refuses one, and ahead of its expiry', async () => {
    const bob = await cluster.user();
    const reasons: string[] = [];
    const client = new VoiceHelperClient({
      url: cluster.urls[0] as string,
      token: (reason) => {
        reasons.push(reason);
        return reason === 'initial' ? 'not-a-token' : bob.token;
      },
      // The test token lives for the configured TTL: a margin just under it asks again at once.
      tokenRefreshMarginMs: (cluster.nodes[0]!.tokens.ttlSeconds - 2) * 1_000,
      backoff: { initialMs: 20, maxMs: 100 },
    });
    clients.push(client);
    await client.connect();
    expect(reasons.slice(0, 2)).toEqual(['initial', 'unauthorized']);
    await eventually(() => expect(reasons).toContain('expiring'), 10_000);
    const { session } = await client.request('session:create', {});
    expect((await client.send(session.id, 'hello')).seq).toBe(1);
  });

  it('rejects what the server refuses with its error code, and does not resend it', async () => {
    const carol = await cluster.user();
    const client = new VoiceHelperClient({ url: cluster.urls[0] as string, token: () => carol.token });
    clients.push(client);
    await client.connect();
    const { session } = await client.request('session:create', {});
    const refused = await client.send(session.id, 'x', { role: 'assistant' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(VoiceHelperError);
    expect((refused as VoiceHelperError).code).toBe('FORBIDDEN');
    expect(client.pending(session.id)).toBe(0);
    expect((await client.send(session.id, 'after')).seq).toBe(1);
  });

  it('streams a turn with ordered deltas and sends audio in chunks, seen by another member', async () => {
    const dave = await cluster.user();
    const worker = await cluster.user('service');
    const daveClient = new VoiceHelperClient({ url: cluster.urls[0] as string, token: () => dave.token });
    const workerClient = new VoiceHelperClient({ url: cluster.urls[0] as string, token: () => worker.token });
    const daveSeen = track(daveClient);
    track(workerClient);
    await daveClient.connect();
    await workerClient.connect();
    const { session } = await daveClient.request('session:create', {});
    await daveClient.join(session.id);
    await workerClient.join(session.id);
    const deltas: string[] = [];
    daveClient.on('delta', (d) => deltas.push(d.delta));

    const turn = workerClient.stream(session.id, { role: 'assistant' });
    await Promise.all(['Hel', 'lo ', 'there'].map((part) => turn.delta(part)));
    const final = await turn.finish('Hello there');
    expect(final.metadata).toMatchObject({ streamId: turn.streamId });
    await eventually(() => expect(deltas.join('')).toBe('Hello there'));

    const audio = new Uint8Array(150 * 1024).map((_, i) => i % 251);
    const spoken = await daveClient.sendAudio(session.id, {
      mimeType: 'audio/webm',
      chunks: [audio],
      transcript: 'hi',
    });
    expect(spoken).toMatchObject({ contentType: 'audio', metadata: { bytes: audio.byteLength } });
    const { url } = await workerClient.audioUrl(spoken.id);
    const downloaded = new Uint8Array(await (await fetch(url)).arrayBuffer());
    expect(downloaded).toEqual(audio);
    await eventually(() => expect(daveSeen.map((m) => m.seq)).toEqual([1, 2]));
  });
});

// Live audio through the SDK: a speaker's client on node 0, listeners' clients on node 1.
// The chunk limit is low so that the stream meets RATE_LIMITED and has to resend in order.
describe('client SDK live audio across two nodes', () => {
  let cluster: TestCluster;
  const clients: VoiceHelperClient[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { RATE_LIMIT_AUDIO_CHUNK: '40/1s' });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
  });

  const client = async (node: number, user: { token: string }) => {
    const made = new VoiceHelperClient({
      url: cluster.urls[node] as string,
      token: () => user.token,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    clients.push(made);
    await made.connect();
    return made;
  };

  /** Everything a client hears of the live relay, by stream. */
  const hear = (listener: VoiceHelperClient) => {
    const started: PushOf<'audio:started'>[] = [];
    const frames: AudioFrame[] = [];
    const ended: PushOf<'audio:ended'>[] = [];
    listener.on('audio:started', (event) => started.push(event));
    listener.on('audio:frame', (frame) => frames.push(frame));
    listener.on('audio:ended', (event) => ended.push(event));
    return { started, frames, ended };
  };

  /** A user's speaking client on node 0, a worker's listening client on node 1, and the user's session. */
  const conversation = async () => {
    const user = await cluster.user();
    const speaker = await client(0, user);
    const worker = await client(1, await cluster.user('service'));
    const { session } = await speaker.request('session:create', { title: 'live' });
    return { user, speaker, worker, sessionId: session.id };
  };

  const frame = (i: number) => new Uint8Array(640).map((_, j) => (i * 7 + j) % 256);

  const rateLimitedChunks = async (): Promise<number> => {
    const text = await (await fetch(`${cluster.urls[0]}/metrics`)).text();
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.includes('voicehelper_socket_events_total{') && l.includes('"audio:chunk"') && l.includes('"RATE_LIMITED"'),
      );
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };

  it('relays frames written on node 0 to a liveAudio listener on node 1 in order with the same bytes, a few in flight at a time, then the stored message', async () => {
    const { speaker, worker, sessionId } = await conversation();
    await speaker.join(sessionId, { liveAudio: true });
    await worker.join(sessionId, { liveAudio: true });
    const heard = hear(worker);
    const echoed = hear(speaker);
    const before = await rateLimitedChunks();

    const stream = await speaker.openAudioStream(sessionId, { mimeType: 'audio/l16', sampleRate: 16_000, window: 4 });
    // A microphone does not wait for its writes: 120 frames at once (three times the limit a second).
    const sent = Array.from({ length: 120 }, (_, i) => frame(i));
    const writes = sent.map((data) => stream.write(data));
    expect(stream.inFlight).toBe(4);
    expect(stream.queued).toBe(116);
    await Promise.all(writes);
    const message = await stream.end({ transcript: 'live' });

    expect(message).toMatchObject({ contentType: 'audio', metadata: { bytes: 120 * 640, streamId: stream.streamId } });
    await eventually(() =>
      expect(heard.ended).toEqual([{ sessionId, streamId: stream.streamId, messageId: message.id }]),
    );
    expect(heard.started).toEqual([
      expect.objectContaining({
        sessionId,
        streamId: stream.streamId,
        role: 'user',
        mimeType: 'audio/l16',
        sampleRate: 16_000,
      }),
    ]);
    expect(heard.frames.map((f) => f.index)).toEqual(sent.map((_, i) => i));
    expect(heard.frames.every((f) => f.data instanceof Uint8Array && f.dropped === undefined)).toBe(true);
    expect(heard.frames.map((f) => new Uint8Array(f.data))).toEqual(sent);
    // The limit refused chunks on the way, and the stream sent them again in order.
    expect(await rateLimitedChunks()).toBeGreaterThan(before);
    // Never the sender's own stream.
    expect([echoed.started, echoed.frames, echoed.ended].map((list) => list.length)).toEqual([0, 0, 0]);
  }, 60_000);

  it('keeps live audio across a reconnect, and keeps it off for a session last joined without it', async () => {
    const { user, speaker, worker, sessionId } = await conversation();
    await worker.join(sessionId, { liveAudio: true });
    const device = await client(1, user);
    await device.join(sessionId, { liveAudio: true });
    await device.join(sessionId);
    const heard = hear(worker);
    const deviceHeard = hear(device);
    let reconnected = 0;
    for (const listener of [worker, device])
      listener.on('state', (state) => {
        if (state === 'connected') reconnected++;
      });

    // Node 1 drops every connection: both clients reconnect and rejoin by themselves.
    cluster.nodes[1]?.io.local.disconnectSockets(true);
    await eventually(() => expect(reconnected).toBe(2), 15_000);

    const stream = await speaker.openAudioStream(sessionId, { mimeType: 'audio/l16', sampleRate: 16_000 });
    for (let i = 0; i < 5; i++) await stream.write(frame(i));
    const message = await stream.end();
    await eventually(() =>
      expect(heard.ended).toEqual([{ sessionId, streamId: stream.streamId, messageId: message.id }]),
    );
    expect(heard.started.map((e) => e.streamId)).toEqual([stream.streamId]);
    expect(heard.frames.map((f) => new Uint8Array(f.data))).toEqual([0, 1, 2, 3, 4].map(frame));
    // The stored message reached both, and the device, which chose no live audio, got none of it.
    await eventually(() => expect(device.lastSeq(sessionId)).toBe(message.seq));
    expect([deviceHeard.started, deviceHeard.frames, deviceHeard.ended].map((list) => list.length)).toEqual([0, 0, 0]);
  }, 30_000);

  it('aborts a stream: listeners get a discarded audio:ended, nothing is stored, and later writes are refused', async () => {
    const { speaker, worker, sessionId } = await conversation();
    await worker.join(sessionId, { liveAudio: true });
    const heard = hear(worker);
    const stored: Message[] = [];
    worker.on('message', (m) => stored.push(m));

    const stream = await speaker.openAudioStream(sessionId, { mimeType: 'audio/l16', sampleRate: 16_000 });
    for (let i = 0; i < 3; i++) await stream.write(frame(i));
    await eventually(() => expect(heard.frames.length).toBe(3));
    await stream.abort();
    await eventually(() =>
      expect(heard.ended).toEqual([{ sessionId, streamId: stream.streamId, discarded: true, reason: 'aborted' }]),
    );
    await expect(stream.write(frame(3))).rejects.toBeInstanceOf(VoiceHelperError);
    await expect(stream.end()).rejects.toBeInstanceOf(VoiceHelperError);
    // A message sent after it is the session's first: the aborted stream stored nothing.
    expect((await speaker.send(sessionId, 'after the abort')).seq).toBe(1);
    await eventually(() => expect(stored.map((m) => m.content)).toEqual(['after the abort']));
  });
});
