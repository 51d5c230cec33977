import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  type Message,
  tokenExpiry,
  VoiceHelperClient,
  VoiceHelperError,
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
