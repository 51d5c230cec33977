import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

// A store that accepts connections and then says nothing (as Neo4j does while it starts or
// stops) must not hold a retrieval: the halves have RETRIEVE_TIMEOUT_MS together, then the
// one still running degrades.
describe('retrieve with a hung Milvus or Neo4j (one node behind proxies)', () => {
  let cluster: TestCluster;
  let milvus: TcpProxy;
  let neo4j: TcpProxy;

  beforeAll(async () => {
    const env = serviceEnv();
    const milvusProxy = await proxyFor(`http://${env.MILVUS_ADDRESS}`);
    const neo4jProxy = await proxyFor(env.NEO4J_URI);
    [milvus, neo4j] = [milvusProxy.proxy, neo4jProxy.proxy];
    cluster = await TestCluster.start(1, {
      MILVUS_ADDRESS: new URL(milvusProxy.url).host,
      NEO4J_URI: neo4jProxy.url,
      RETRIEVE_TIMEOUT_MS: '500',
    });
  }, 60_000);
  afterAll(async () => {
    for (const proxy of [milvus, neo4j]) proxy?.unstall();
    await cluster?.stop();
    for (const proxy of [milvus, neo4j]) await proxy?.down();
  });

  it('answers degraded in bounded time while one store hangs, and whole once it answers again', async () => {
    const owner = await cluster.user();
    const url = cluster.urls[0] as string;
    const uploaded = await call(url, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('OpenAI trains GPT-4 on Microsoft Azure.', 'a.txt'),
    });
    const documentId = uploaded.body['document'].id as string;
    await eventually(
      async () =>
        expect(
          (await call(url, 'GET', `/v1/documents/${documentId}`, { token: owner.token })).body['document'].status,
        ).toBe('ready'),
      30_000,
    );
    const socket = await cluster.connect(0, owner);
    const ask = async () => {
      const started = Date.now();
      const answer = await request<RetrieveResult>(socket, 'retrieve', {
        query: 'Where is GPT-4 trained?',
        topK: 1,
        documentIds: [documentId],
      });
      return { answer, ms: Date.now() - started };
    };

    const answersWhole = async () => {
      const again = await ask();
      expect(again.answer.ok && again.answer.data.degraded).toBeUndefined();
      expect(again.answer.ok && again.answer.data.chunks.map((c) => c.documentId)).toEqual([documentId]);
      expect(again.answer.ok && again.answer.data.entities.length).toBeGreaterThan(0);
    };
    // The first searches of a fresh node can outlast 500 ms on a busy machine.
    await eventually(answersWhole, 30_000);

    for (const [proxy, part] of [
      [neo4j, 'graph'],
      [milvus, 'vector'],
    ] as const) {
      proxy.stall();
      try {
        // Two asks: the first may have been answered from a cache, the second meets the hang.
        await ask();
        const hung = await ask();
        expect(hung.answer).toMatchObject({ ok: true, data: { degraded: [part] } });
        // The 500 ms and the embedding: well under a client's ack timeout.
        expect(hung.ms).toBeLessThan(4_000);
      } finally {
        proxy.unstall();
      }
      await eventually(answersWhole, 30_000);
    }
  }, 90_000);
});
