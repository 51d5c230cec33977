import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

describe('retrieve with Neo4j stopped', () => {
  // The node reaches the suite's Neo4j through a proxy that the test cuts: to the node, the
  // graph is gone as it would be with the server killed (open connections dropped, new ones refused).
  let neo4j: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const proxied = await proxyFor(serviceEnv().NEO4J_URI);
    neo4j = proxied.proxy;
    // No outage budget: the document ingested with Neo4j gone fails at once (by default its
    // job would wait out the outage for 10 minutes; test/chaos covers that it then succeeds),
    // and each graph write gives up after retrying for a second (by default 10 s, its
    // clean-up as long again).
    cluster = await TestCluster.start(1, {
      NEO4J_URI: proxied.url,
      EMBEDDING_DIM: '256',
      DEPENDENCY_TIMEOUT_MS: '500',
      INGEST_ATTEMPTS: '1',
      INGEST_OUTAGE_BUDGET_MS: '1',
      NEO4J_RETRY_MS: '1000',
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await neo4j?.down();
  });

  it('answers the vector part with degraded: [graph] once Neo4j is gone', async () => {
    const alice = await cluster.user();
    const form = new FormData();
    form.append(
      'file',
      new Blob(['OpenAI trains GPT-4 on Microsoft Azure. OpenAI sells GPT-4 through an API.'], { type: 'text/plain' }),
      'a.txt',
    );
    const headers = { authorization: `Bearer ${alice.token}` };
    const created = (await (
      await fetch(`${cluster.urls[0]}/v1/documents`, { method: 'POST', headers, body: form })
    ).json()) as { document: { id: string } };
    await eventually(async () => {
      const document = (await (
        await fetch(`${cluster.urls[0]}/v1/documents/${created.document.id}`, { headers })
      ).json()) as { document: { status: string } };
      expect(document.document.status).toBe('ready');
    }, 30_000);
    const socket = await cluster.connect(0, alice);
    const ask = () =>
      request<RetrieveResult>(socket, 'retrieve', { query: 'Where is GPT-4 trained?', topK: 1, graphDepth: 1 });

    // A Neo4j on a loaded machine can miss the 500 ms deadline once: the first whole answer counts.
    await eventually(async () => {
      const healthy = await ask();
      expect(healthy.ok && healthy.data.degraded).toBeUndefined();
      expect(healthy.ok && healthy.data.entities.map((e) => e.name)).toEqual(
        expect.arrayContaining(['OpenAI', 'GPT-4']),
      );
    }, 20_000);

    // Answers degraded while Neo4j was slow counted too: the cut must add exactly one.
    const degradedCount = async () =>
      Number(
        /voicehelper_retrieve_degraded_total\{part="graph",node="[^"]+"\} (\d+)/.exec(
          await (await fetch(`${cluster.urls[0]}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    const before = await degradedCount();
    await neo4j.down();
    const degraded = await ask();
    expect(degraded.ok).toBe(true);
    if (!degraded.ok) return;
    expect(degraded.data.degraded).toEqual(['graph']);
    expect(degraded.data.chunks[0]?.documentId).toBe(created.document.id);
    expect(degraded.data.entities).toEqual([]);
    expect(await degradedCount()).toBe(before + 1);
    // Readiness names the graph as down but stays 200: it is optional by default.
    const ready = await fetch(`${cluster.urls[0]}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { dependencies: Record<string, unknown> }).dependencies['graph']).toMatchObject({
      status: 'down',
      required: false,
    });

    // A document ingested now fails (its graph cannot be written), and none of it is retrieved.
    const second = new FormData();
    second.append(
      'file',
      new Blob(['Kubernetes schedules containers. Kubernetes restarts failed pods.'], { type: 'text/plain' }),
      'b.txt',
    );
    const failing = (await (
      await fetch(`${cluster.urls[0]}/v1/documents`, { method: 'POST', headers, body: second })
    ).json()) as { document: { id: string } };
    await eventually(async () => {
      const document = (await (
        await fetch(`${cluster.urls[0]}/v1/documents/${failing.document.id}`, { headers })
      ).json()) as { document: { status: string; statusReason: string } };
      expect(document.document).toMatchObject({ status: 'failed', statusReason: expect.stringContaining('graph') });
    }, 30_000);
    const none = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'Kubernetes restarts pods',
      documentIds: [failing.document.id],
    });
    expect(none.ok && none.data.chunks).toEqual([]);
  }, 90_000);
});
