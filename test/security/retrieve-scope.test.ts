import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { call, documentForm } from '../helpers/http.js';

describe("a service retrieves a user's documents only through a session it has joined (two nodes)", () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { EMBEDDING_DIM: '64' });
  });
  afterAll(() => cluster?.stop());

  it('is FORBIDDEN before the join and after the leave, and answers from the owner’s documents while joined', async () => {
    const owner = await cluster.user();
    const user = await cluster.connect(0, owner);
    const sessionId = await cluster.session(user);
    const uploaded = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('The lighthouse keeper logs every passing ship in a leather book.', 'log.txt'),
    });
    const documentId = uploaded.body['document'].id as string;
    await eventually(
      async () =>
        expect(
          (await call(cluster.urls[0] as string, 'GET', `/v1/documents/${documentId}`, { token: owner.token })).body[
            'document'
          ].status,
        ).toBe('ready'),
      20_000,
    );

    const service = await cluster.connect(1, await cluster.user('service'));
    const ask = () =>
      request<RetrieveResult>(service, 'retrieve', { query: 'who logs passing ships', sessionId, graphDepth: 0 });
    expect(await ask()).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    expect(await request(service, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const answer = await ask();
    expect(answer.ok && answer.data.chunks[0]?.documentId).toBe(documentId);
    expect(await request(service, 'session:leave', { sessionId })).toEqual({ ok: true, data: {} });
    expect(await ask()).toMatchObject({ ok: false, error: { code: 'FORBIDDEN' } });
    // The owner needs no join for their own session, and a service without sessionId searches its own documents.
    const own = await request<RetrieveResult>(user, 'retrieve', {
      query: 'who logs passing ships',
      sessionId,
      graphDepth: 0,
    });
    expect(own.ok && own.data.chunks[0]?.documentId).toBe(documentId);
    const alone = await request<RetrieveResult>(service, 'retrieve', {
      query: 'who logs passing ships',
      graphDepth: 0,
    });
    expect(alone.ok && alone.data.chunks).toEqual([]);
  });
});
