import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeltaEvent } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import { openClient, request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('streaming and interrupted turns', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  async function room() {
    const owner = await cluster.user();
    const streamer = await cluster.connect(0, owner);
    const sessionId = await cluster.session(streamer);
    const listener = await cluster.connect(1, owner);
    await request(listener, 'session:join', { sessionId });
    return { owner, streamer, sessionId, listener };
  }

  it('relays deltas to the room with the sender, in order, and the final message closes the stream', async () => {
    const { owner, streamer, sessionId, listener } = await room();
    const deltas = collect<DeltaEvent>(listener, 'message:delta');
    const news = collect<{ message: Message }>(listener, 'message:new');
    for (const [index, delta] of ['Hel', 'lo ', 'wor'].entries()) {
      expect(await request(streamer, 'message:delta', { sessionId, streamId: 'asr-1', index, delta })).toEqual({
        ok: true,
        data: {},
      });
    }
    // A resent index is acknowledged but not relayed again; a gap is refused.
    expect(await request(streamer, 'message:delta', { sessionId, streamId: 'asr-1', index: 1, delta: 'lo ' })).toEqual({
      ok: true,
      data: {},
    });
    expect(
      await request(streamer, 'message:delta', { sessionId, streamId: 'asr-1', index: 5, delta: 'x' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', details: { expectedIndex: 3 } },
    });
    await eventually(() => expect(deltas.map((d) => d.delta).join('')).toBe('Hello wor'));
    expect(deltas[0]).toEqual({ sessionId, streamId: 'asr-1', index: 0, delta: 'Hel', role: 'user', userId: owner.id });

    const final = await request<{ message: Message }>(streamer, 'message:send', {
      sessionId,
      clientMsgId: 'final-1',
      content: 'Hello world',
      contentType: 'transcript',
      metadata: { streamId: 'asr-1' },
    });
    expect(final).toMatchObject({
      ok: true,
      data: { message: { content: 'Hello world', metadata: { streamId: 'asr-1' } } },
    });
    await eventually(() => expect(news.map((n) => n.message.content)).toEqual(['Hello world']));
    // Closed: nothing is committed later as interrupted.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(news).toHaveLength(1);
  });

  it('commits the text so far once when the streaming socket disconnects, and a late final acks that message', async () => {
    const { owner, streamer, sessionId, listener } = await room();
    const news = collect<{ message: Message }>(listener, 'message:new');
    await request(streamer, 'message:delta', { sessionId, streamId: 'tts-2', index: 0, delta: 'partial ' });
    await request(streamer, 'message:delta', { sessionId, streamId: 'tts-2', index: 1, delta: 'answer' });
    streamer.close();
    await eventually(() => expect(news).toHaveLength(1));
    expect(news[0]?.message).toMatchObject({
      content: 'partial answer',
      role: 'user',
      metadata: { streamId: 'tts-2', interrupted: true },
    });
    const again = await cluster.connect(1, owner);
    const late = await request<{ message: Message }>(again, 'message:send', {
      sessionId,
      clientMsgId: 'late',
      content: 'partial answer, finished',
      metadata: { streamId: 'tts-2' },
    });
    expect(late.ok && late.data.message.id).toBe(news[0]?.message.id);
    await new Promise((r) => setTimeout(r, 300));
    expect(news).toHaveLength(1);
  });

  it('commits a stream that idles past the limit, as the role it streamed', async () => {
    const { sessionId, listener } = await room();
    const worker = await cluster.connect(1, await cluster.user('service'));
    const news = collect<{ message: Message }>(listener, 'message:new');
    await request(worker, 'message:delta', {
      sessionId,
      streamId: 'llm-3',
      index: 0,
      delta: 'thinking',
      role: 'assistant',
    });
    await eventually(() => expect(news).toHaveLength(1), 20_000).catch(async (e) => {
      const redis = cluster.redis();
      // Shows where the turn is stuck if this ever fails.
      console.error(
        'stream diagnostics',
        JSON.stringify({
          open: await cluster.nodes[0]?.stores.streams.idle(0),
          stream: await cluster.nodes[0]?.stores.streams.get(sessionId, 'llm-3'),
          nodes: await redis.smembers('vh:nodes'),
          rows: (await cluster.sql().query('select seq, content from messages where session_id = $1', [sessionId]))
            ?.rows,
          ids: cluster.nodes.map((n) => n.config.nodeId),
        }),
      );
      throw e;
    });
    expect(news[0]?.message).toMatchObject({
      role: 'assistant',
      content: 'thinking',
      metadata: { streamId: 'llm-3', interrupted: true },
    });
  });

  it("refuses deltas into another user's stream and streams beyond the size bound", async () => {
    const { sessionId } = await room();
    const admin = await cluster.connect(0, await cluster.user('admin'));
    const owner = await cluster.connect(1, await cluster.user('service'));
    await request(owner, 'message:delta', { sessionId, streamId: 'mine', index: 0, delta: 'a', role: 'assistant' });
    expect(
      await request(admin, 'message:delta', { sessionId, streamId: 'mine', index: 1, delta: 'b', role: 'assistant' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    // The buffer holds at most MESSAGE_MAX_BYTES (32 KiB): 'a' plus three 8 KiB deltas fit.
    for (let i = 1; i <= 3; i++) {
      const ack = await request(owner, 'message:delta', {
        sessionId,
        streamId: 'mine',
        index: i,
        delta: 'x'.repeat(8 * 1024),
        role: 'assistant',
      });
      expect(ack.ok).toBe(true);
    }
    expect(
      await request(owner, 'message:delta', {
        sessionId,
        streamId: 'mine',
        index: 4,
        delta: 'x'.repeat(8 * 1024),
        role: 'assistant',
      }),
    ).toMatchObject({
      ok: false,
      error: { code: 'PAYLOAD_TOO_LARGE' },
    });
  });
});

// The node that holds the streaming socket runs as its own process and is killed with
// SIGKILL: no disconnect handler runs there. A node of the in-process cluster must notice
// (the heartbeat stops) and commit the turn; the client then moves to that node and
// catches up with sinceSeq.
describe('a node killed while its client streams', () => {
  let cluster: TestCluster;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
  });
  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await cluster?.stop();
  });

  it('has a surviving node commit the interrupted turn once, and the client catches up there without gaps', async () => {
    // A node of the cluster in a process of its own (cluster.spawnNode), so that it can be killed.
    const doomed = await cluster.spawnNode();
    child = doomed.process;
    const doomedUrl = doomed.url;

    const owner = await cluster.user();
    const onDoomed = await openClient(doomedUrl, { token: owner.token });
    const sessionId = await cluster.session(onDoomed);
    await request(onDoomed, 'message:send', { sessionId, clientMsgId: 'before', content: 'first' });
    const watcher = await cluster.connect(0, owner);
    const joined = await request<{ presence: { connections: number }[] }>(watcher, 'session:join', { sessionId });
    expect(joined.ok && joined.data.presence[0]?.connections).toBe(2);
    const news = collect<{ message: Message }>(watcher, 'message:new');
    const presence = collect<{ connections: number }>(watcher, 'presence');

    await request(onDoomed, 'message:delta', { sessionId, streamId: 'cut', index: 0, delta: 'half a ' });
    await request(onDoomed, 'message:delta', { sessionId, streamId: 'cut', index: 1, delta: 'sentence' });
    child.kill('SIGKILL');
    onDoomed.close();

    await eventually(() => expect(news.map((n) => n.message.content)).toEqual(['half a sentence']), 15_000).catch(
      async (e) => {
        const redis = cluster.redis();
        console.error(
          'killed-node diagnostics',
          JSON.stringify({
            open: await cluster.nodes[0]?.stores.streams.idle(0),
            stream: await cluster.nodes[0]?.stores.streams.get(sessionId, 'cut'),
            nodes: await redis.smembers('vh:nodes'),
            rows: (await cluster.sql().query('select seq, content from messages where session_id = $1', [sessionId]))
              ?.rows,
            survivor: cluster.nodes[0]?.config.nodeId,
          }),
        );
        throw e;
      },
    );
    expect(news[0]?.message).toMatchObject({ seq: 2, metadata: { streamId: 'cut', interrupted: true } });
    await eventually(() => expect(presence.at(-1)?.connections).toBe(1), 15_000).catch(async (e) => {
      console.error(
        'killed-node presence diagnostics',
        JSON.stringify({
          pushes: presence,
          listed: await cluster.nodes[0]?.stores.presence.list(sessionId),
          nodes: await cluster.redis().smembers('vh:nodes'),
          doomedAlive: [
            ...((await cluster.nodes[0]?.stores.presence.aliveNodes([`spawned-${new URL(doomedUrl).port}`])) ?? []),
          ],
        }),
      );
      throw e;
    });

    const moved = await cluster.connect(0, owner);
    const caught = await request<{ messages: Message[] }>(moved, 'session:join', { sessionId, sinceSeq: 1 });
    expect(caught.ok && caught.data.messages.map((m) => [m.seq, m.content])).toEqual([[2, 'half a sentence']]);
    const rows = await cluster
      .sql()
      .query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(rows?.rows[0].n).toBe(2);
  }, 60_000);
});
