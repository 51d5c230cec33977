import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';

describe('session:join with sinceSeq past the last message (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  it('is refused with VALIDATION and the committed lastSeq, joins nothing, and an exact sinceSeq still delivers what follows', async () => {
    const owner = await cluster.user();
    const writer = await cluster.connect(0, owner);
    const sessionId = await cluster.session(writer);
    for (let i = 0; i < 3; i++)
      await request(writer, 'message:send', { sessionId, clientMsgId: randomUUID(), content: `m${i}` });

    const reader = await cluster.connect(1, owner);
    const seen = collect<{ message: Message }>(reader, 'message:new');
    const refused = await request(reader, 'session:join', { sessionId, sinceSeq: 10 });
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION', details: { field: 'sinceSeq', lastSeq: 3 } },
    });
    // The session's cached copy still says lastSeq 0: the committed value decides.
    const joined = await request<{ messages: Message[] }>(reader, 'session:join', { sessionId, sinceSeq: 3 });
    expect(joined).toMatchObject({ ok: true, data: { messages: [] } });
    await request(writer, 'message:send', { sessionId, clientMsgId: randomUUID(), content: 'm3' });
    await eventually(() => expect(seen.map((s) => s.message.seq)).toEqual([4]));
    // A rejoin on the same socket past the end is refused too, and leaves the socket joined.
    expect(await request(reader, 'session:join', { sessionId, sinceSeq: 99 })).toMatchObject({
      ok: false,
      error: { details: { lastSeq: 4 } },
    });
    await request(writer, 'message:send', { sessionId, clientMsgId: randomUUID(), content: 'm4' });
    await eventually(() => expect(seen.map((s) => s.message.seq)).toEqual([4, 5]));
  });
});
