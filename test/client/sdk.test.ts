import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AudioFrame,
  backoffDelay,
  type DispatchedSession,
  decodeL16,
  encodeL16,
  L16Framer,
  type Message,
  type PushOf,
  type RevokedSession,
  tokenExpiry,
  VoiceHelperClient,
  type VoiceHelperClientOptions,
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

// Worker helpers over assistant dispatch: workers' and users' clients on different nodes.
describe('client SDK workers across two nodes', () => {
  let cluster: TestCluster;
  const clients: VoiceHelperClient[] = [];

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { AGENT_REDISPATCH_MS: '1000' });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
  });

  /** An agent name of this test's own: the clusters of every test file share one database. */
  const agentName = () => `agent-${randomUUID().slice(0, 8)}`;

  const client = async (
    url: string | string[],
    user: { token: string },
    options: Partial<VoiceHelperClientOptions> = {},
  ) => {
    const made = new VoiceHelperClient({
      url,
      token: () => user.token,
      backoff: { initialMs: 20, maxMs: 200 },
      ...options,
    });
    clients.push(made);
    await made.connect();
    return made;
  };

  /**
   * A worker's client registered for `agent` whose dispatch handler answers every user
   * message of its sessions, and what it was dispatched and revoked.
   */
  const worker = async (
    url: string | string[],
    agent: string,
    options: {
      capacity?: number;
      liveAudio?: boolean;
      user?: { id: string; token: string };
      client?: Partial<VoiceHelperClientOptions>;
    } = {},
  ) => {
    const user = options.user ?? (await cluster.user('service'));
    const sdk = await client(url, user, options.client);
    const jobs: DispatchedSession[] = [];
    const revoked: RevokedSession[] = [];
    const heard: Message[] = [];
    sdk.on('message', (m) => {
      heard.push(m);
      const job = jobs.find((j) => j.session.id === m.sessionId && !j.signal.aborted);
      if (job !== undefined && m.role === 'user') void sdk.send(m.sessionId, `re: ${m.content}`, { role: 'assistant' });
    });
    const registered = await sdk.register(agent, {
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
      ...(options.liveAudio === undefined ? {} : { liveAudio: options.liveAudio }),
      onDispatch: (job) => {
        jobs.push(job);
      },
      onRevoked: (event) => revoked.push(event),
    });
    return { sdk, user, workerId: registered.workerId, jobs, revoked, heard };
  };

  /** The sessions a worker was handed and still has. */
  const holding = (w: { jobs: DispatchedSession[] }) =>
    w.jobs.filter((j) => !j.signal.aborted).map((j) => j.session.id);

  it('hands a session created on the other node to the registered worker once, joined: it hears the user, live audio too, and answers', async () => {
    const agent = agentName();
    const w = await worker(cluster.urls[0] as string, agent, { liveAudio: true });
    const frames: AudioFrame[] = [];
    w.sdk.on('audio:frame', (f) => frames.push(f));
    const alice = await client(cluster.urls[1] as string, await cluster.user());
    const aliceSeen: Message[] = [];
    alice.on('message', (m) => aliceSeen.push(m));

    const { session } = await alice.request('session:create', { title: 'worker', agent });
    expect(session).toMatchObject({ agent, agentStatus: { state: 'assigned', workerId: w.workerId } });
    await alice.join(session.id);
    await eventually(() => expect(w.jobs.map((j) => j.session.id)).toEqual([session.id]));
    const job = w.jobs[0] as DispatchedSession;
    expect(job).toMatchObject({
      agent,
      epoch: 1,
      messages: [],
      session: { id: session.id, agentStatus: { state: 'assigned', workerId: w.workerId } },
    });
    expect(w.sdk.workerId).toBe(w.workerId);

    await alice.send(session.id, 'hello');
    await eventually(() =>
      expect(aliceSeen.map((m) => [m.role, m.content])).toEqual([
        ['user', 'hello'],
        ['assistant', 're: hello'],
      ]),
    );
    await eventually(() => expect(w.heard.map((m) => m.content)).toEqual(['hello', 're: hello']));

    // Joined with liveAudio, as the registration asked.
    const stream = await alice.openAudioStream(session.id, { mimeType: 'audio/l16', sampleRate: 16_000 });
    await stream.write(new Uint8Array(640).fill(7));
    await eventually(() => expect(frames.map((f) => [f.sessionId, f.index])).toEqual([[session.id, 0]]));
    await stream.abort();
    // Each assignment once.
    expect(w.jobs).toHaveLength(1);
    expect(w.revoked).toEqual([]);
  });

  it("gives a lost worker's session to the other; the lost one registers again on reconnect, before it rejoins, and takes new sessions", async () => {
    const agent = agentName();
    const doomed = await cluster.spawnNode();
    // The lost worker's reconnect waits for this gate (its token provider is asked on
    // every connection), so that the session is seen going to the other worker first.
    let openGate = () => {};
    let gate = Promise.resolve();
    const service = await cluster.user('service');
    const a = await worker([doomed.url, cluster.urls[1] as string], agent, {
      user: service,
      client: {
        token: async () => {
          await gate;
          return service.token;
        },
        tokenRefreshMarginMs: Number.MAX_SAFE_INTEGER,
      },
    });
    const events: string[] = [];
    a.sdk.on('registered', ({ workerId }) => events.push(`registered ${workerId}`));
    a.sdk.on('state', (state) => events.push(state));
    const bob = await client(cluster.urls[1] as string, await cluster.user());
    const statuses: PushOf<'agent:status'>[] = [];
    bob.on('agent:status', (s) => statuses.push(s));

    const { session: first } = await bob.request('session:create', { agent });
    await bob.join(first.id);
    await eventually(() => expect(holding(a)).toEqual([first.id]));
    await bob.send(first.id, 'before');
    await eventually(() => expect(a.heard.map((m) => m.content)).toEqual(['before', 're: before']));
    const b = await worker(cluster.urls[0] as string, agent);

    gate = new Promise((resolve) => {
      openGate = resolve;
    });
    events.length = 0;
    doomed.process.kill('SIGKILL');
    await eventually(() => expect(holding(b)).toEqual([first.id]), 15_000);
    // The last word on it (a loaded machine may have cost the node its lease before it died).
    expect(a.revoked.at(-1)).toEqual({ sessionId: first.id, agent, reason: 'disconnected' });
    expect(holding(a)).toEqual([]);
    expect(a.sdk.workerId).toBeUndefined();
    await eventually(() =>
      expect(statuses).toContainEqual({ sessionId: first.id, agent, state: 'assigned', workerId: b.workerId }),
    );
    // The newest page came with the job as context; `message` listeners get what follows.
    const taken = b.jobs.find((j) => !j.signal.aborted) as DispatchedSession;
    expect(taken.messages.map((m) => m.content)).toEqual(['before', 're: before']);
    expect(taken.epoch).toBeGreaterThan((a.jobs[0] as DispatchedSession).epoch);
    await bob.send(first.id, 'after');
    await eventually(() => expect(b.heard.map((m) => m.content)).toEqual(['after', 're: after']));

    openGate();
    await eventually(() => expect(events).toContain('connected'), 15_000);
    const again = a.sdk.workerId;
    expect(again).toBeDefined();
    expect(again).not.toBe(a.workerId);
    // Registered before the rejoins that end in `connected`.
    expect(events.filter((e) => e !== 'connecting' && e !== 'disconnected')).toEqual([
      `registered ${again}`,
      'connected',
    ]);
    // The session it lost is not rejoined.
    expect(a.sdk.lastSeq(first.id)).toBeUndefined();

    // The least loaded worker now is the one that came back.
    const { session: second } = await bob.request('session:create', { agent });
    expect(second.agentStatus).toEqual({ state: 'assigned', workerId: again });
    await bob.join(second.id);
    await eventually(() => expect(holding(a)).toEqual([second.id]));
    await bob.send(second.id, 'welcome back');
    await eventually(() =>
      expect(a.heard.map((m) => m.content).slice(-2)).toEqual(['welcome back', 're: welcome back']),
    );
    expect(holding(b)).toEqual([first.id]);
  }, 60_000);

  it('releases a session to the other worker and leaves it', async () => {
    const agent = agentName();
    const w0 = await worker(cluster.urls[0] as string, agent);
    const w1 = await worker(cluster.urls[1] as string, agent);
    const carol = await client(cluster.urls[0] as string, await cluster.user());
    const statuses: PushOf<'agent:status'>[] = [];
    carol.on('agent:status', (s) => statuses.push(s));
    const presence: PushOf<'presence'>[] = [];
    carol.on('presence', (p) => presence.push(p));

    const { session } = await carol.request('session:create', { agent });
    await carol.join(session.id);
    await eventually(() => expect([...holding(w0), ...holding(w1)]).toEqual([session.id]));
    const [from, to] = holding(w0).length === 1 ? [w0, w1] : [w1, w0];
    const job = from.jobs[0] as DispatchedSession;

    await from.sdk.release(session.id);
    expect(job.signal.aborted).toBe(true);
    expect(from.sdk.lastSeq(session.id)).toBeUndefined();
    await eventually(() => expect(holding(to)).toEqual([session.id]));
    await eventually(() =>
      expect(statuses).toContainEqual({ sessionId: session.id, agent, state: 'assigned', workerId: to.workerId }),
    );
    await eventually(() =>
      expect(presence).toContainEqual(expect.objectContaining({ userId: from.user.id, connections: 0 })),
    );
    // A release is the worker's own doing: not reported as revoked.
    expect(from.revoked).toEqual([]);
    await carol.send(session.id, 'who is there');
    await eventually(() => expect(to.heard.map((m) => m.content)).toEqual(['who is there', 're: who is there']));
    expect(from.heard).toEqual([]);
  });

  it('leaves an archived session and calls onRevoked', async () => {
    const agent = agentName();
    const w = await worker(cluster.urls[0] as string, agent);
    const dave = await client(cluster.urls[1] as string, await cluster.user());
    const presence: PushOf<'presence'>[] = [];
    dave.on('presence', (p) => presence.push(p));
    const { session } = await dave.request('session:create', { agent });
    await dave.join(session.id);
    await eventually(() => expect(holding(w)).toEqual([session.id]));

    await dave.request('session:update', { sessionId: session.id, status: 'archived' });
    await eventually(() => expect(w.revoked).toEqual([{ sessionId: session.id, agent, reason: 'archived' }]));
    expect((w.jobs[0] as DispatchedSession).signal.aborted).toBe(true);
    expect(w.sdk.lastSeq(session.id)).toBeUndefined();
    await eventually(() =>
      expect(presence).toContainEqual(expect.objectContaining({ userId: w.user.id, connections: 0 })),
    );
  });
});
