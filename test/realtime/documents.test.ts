import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DocumentStatusEvent, documentFailureReasons, type RetrieveResult } from '../../protocol/events.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { pdfWithLines } from '../helpers/pdf.js';

const DOCS = {
  redis:
    'Redis pub/sub delivers each message at most once. Subscribers that are offline miss messages, so a gap must be filled from the database.',
  partitions:
    'PostgreSQL range partitioning splits the messages table into monthly partitions. A default partition catches rows whose month has no partition yet.',
  graph: '知识图谱用节点和边表示实体及其关系。人工智能和机器学习是常见的实体。',
};

describe('documents and retrieval (real S3 and Milvus)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { DOCUMENT_MAX_BYTES: '100000', EMBEDDING_DIM: '256' });
  });
  afterAll(() => cluster?.stop());

  const upload = async (token: string, body: string | Buffer, filename: string, type = 'text/plain', node = 0) => {
    const form = new FormData();
    form.append('title', filename.split('/').pop() ?? 'x');
    form.append('file', new Blob([body], { type }), filename);
    const response = await fetch(`${cluster.urls[node]}/v1/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  const get = async (token: string, path: string, node = 1) => {
    const response = await fetch(`${cluster.urls[node]}${path}`, {
      headers: { authorization: `Bearer ${token}` },
      redirect: 'manual',
    });
    const text = await response.text();
    return {
      status: response.status,
      headers: response.headers,
      body: (text === '' || !text.startsWith('{') ? {} : JSON.parse(text)) as Record<string, any>,
    };
  };
  const ready = async (token: string, id: string) =>
    eventually(
      async () => expect((await get(token, `/v1/documents/${id}`)).body['document'].status).toBe('ready'),
      20_000,
    );

  it('uploads, ingests and retrieves the right chunk for a question; other users never see it; delete removes it everywhere', async () => {
    const alice = await cluster.user();
    const bob = await cluster.user();
    const ids: Record<string, string> = {};
    for (const [name, text] of Object.entries(DOCS)) {
      const created = await upload(alice.token, text, `${name}.txt`);
      expect(created.status).toBe(202);
      expect(created.body['document']).toMatchObject({
        status: 'processing',
        userId: alice.id,
        mimeType: 'text/plain',
      });
      ids[name] = created.body['document'].id;
    }
    for (const id of Object.values(ids)) await ready(alice.token, id);
    expect((await get(alice.token, `/v1/documents/${ids['redis']}`)).body['document'].chunkCount).toBeGreaterThan(0);

    const socket = await cluster.connect(1, alice);
    const answer = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'what happens to pub/sub messages when a subscriber is offline',
      topK: 3,
    });
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    expect(answer.data.chunks[0]?.documentId).toBe(ids['redis']);
    expect(answer.data.timings.totalMs).toBeGreaterThanOrEqual(0);
    // The graph half (its own tests are in knowledge-graph.test.ts): entities of the hit document.
    expect(answer.data.entities.every((e) => e.relevance > 0)).toBe(true);
    const chinese = await request<RetrieveResult>(socket, 'retrieve', { query: '知识图谱如何表示实体', topK: 1 });
    expect(chinese.ok && chinese.data.chunks[0]?.documentId).toBe(ids['graph']);
    const filtered = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'partitions',
      documentIds: [ids['graph']],
    });
    expect(filtered.ok && filtered.data.chunks.every((c) => c.documentId === ids['graph'])).toBe(true);

    const bobSocket = await cluster.connect(0, bob);
    const bobs = await request<RetrieveResult>(bobSocket, 'retrieve', { query: 'pub/sub messages subscriber offline' });
    expect(bobs.ok && bobs.data.chunks).toEqual([]);
    expect((await get(bob.token, `/v1/documents/${ids['redis']}`)).status).toBe(403);
    expect((await get(bob.token, '/v1/documents')).body['documents']).toEqual([]);

    const content = await get(alice.token, `/v1/documents/${ids['redis']}/content`);
    expect(content.status).toBe(302);
    expect(await (await fetch(content.headers.get('location') as string)).text()).toBe(DOCS.redis);

    const node = cluster.nodes[0];
    const key = (await node?.stores.db.documents.get(ids['redis'] as string))?.filePath as string;
    const deleted = await fetch(`${cluster.urls[0]}/v1/documents/${ids['redis']}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(deleted.status).toBe(204);
    expect(await node?.stores.db.documents.get(ids['redis'] as string)).toBeUndefined();
    expect(await node?.stores.db.documents.chunks(ids['redis'] as string)).toEqual([]);
    expect(await node?.stores.objects.stat(key)).toBeUndefined();
    const [vector] = (await node?.stores.embedder.embed([DOCS.redis])) ?? [];
    const left = await node?.stores.vectors.search(vector as number[], {
      topK: 10,
      ownerId: alice.id,
      documentIds: [ids['redis'] as string],
    });
    expect(left).toEqual([]);
    const audit = await node?.stores.db.audit.query({ userId: alice.id });
    expect(audit?.entries.map((e) => e.action)).toEqual(expect.arrayContaining(['document.upload', 'document.delete']));
  }, 60_000);

  it('pushes document:status to every socket of the owner, on any node, from parsing to ready or failed, and to nobody else', async () => {
    const alice = await cluster.user();
    const bob = await cluster.user();
    const near = await cluster.connect(0, alice);
    const far = await cluster.connect(1, alice);
    const stranger = await cluster.connect(1, bob);
    const seen = {
      near: collect<DocumentStatusEvent>(near, 'document:status'),
      far: collect<DocumentStatusEvent>(far, 'document:status'),
    };
    const strangerSaw = collect<DocumentStatusEvent>(stranger, 'document:status');
    const long = Array.from(
      { length: 120 },
      (_, i) => `Sentence ${i} about voice sessions, partitions and retrieval.`,
    ).join(' ');
    const created = await upload(alice.token, long, 'long.txt');
    const id = created.body['document'].id as string;
    for (const events of [seen.near, seen.far]) {
      await eventually(
        () => expect(events.at(-1)).toEqual({ documentId: id, status: 'ready', stage: 'ready', percent: 100 }),
        20_000,
      );
      const stages = events.map((e) => e.stage);
      expect(stages[0]).toBe('parsing');
      expect(stages).toContain('embedding');
      expect(stages.indexOf('graph')).toBeGreaterThan(stages.lastIndexOf('embedding'));
      const percents = events.map((e) => e.percent);
      expect(percents).toEqual([...percents].sort((a, b) => a - b));
      expect(events.every((e) => e.documentId === id)).toBe(true);
    }

    // A PDF that is not one past its header: every attempt fails, then the owner hears why.
    const broken = await upload(
      alice.token,
      Buffer.from('%PDF-1.7\nthis is not a PDF body at all'),
      'broken.pdf',
      'application/pdf',
    );
    expect(broken.status).toBe(202);
    const brokenId = broken.body['document'].id as string;
    await eventually(
      () =>
        expect(seen.near.at(-1)).toMatchObject({
          documentId: brokenId,
          status: 'failed',
          stage: 'failed',
          reason: expect.any(String),
        }),
      30_000,
    );
    expect(strangerSaw).toEqual([]);
  }, 60_000);

  it('refuses bad uploads with a clear error and stores nothing', async () => {
    const carol = await cluster.user();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect(await upload(carol.token, 'x'.repeat(100_001), 'big.txt')).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
    expect(await upload(carol.token, png, 'image.png', 'image/png')).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION' } },
    });
    expect(await upload(carol.token, png, 'sneaky.txt')).toMatchObject({
      status: 400,
      body: { error: { code: 'VALIDATION' } },
    });
    expect(await upload(carol.token, '', 'empty.txt')).toMatchObject({ status: 400 });
    expect(await upload(carol.token, 'not json at all', 'data.json', 'application/json')).toMatchObject({
      status: 400,
    });
    const none = await fetch(`${cluster.urls[0]}/v1/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${carol.token}` },
      body: new FormData(),
    });
    expect(none.status).toBe(400);
    expect((await fetch(`${cluster.urls[0]}/v1/documents`, { method: 'POST', body: new FormData() })).status).toBe(401);
    expect((await get(carol.token, '/v1/documents')).body['documents']).toEqual([]);
    expect((await cluster.nodes[0]?.stores.objects.list(`documents/${carol.id}/`)) ?? []).toEqual([]);
    expect((await get(carol.token, `/v1/documents/${randomUUID()}`)).status).toBe(404);
    expect((await get(carol.token, '/v1/documents/not-a-uuid')).status).toBe(400);
  });

  it('never uses the client file name in keys: a traversal name becomes a plain title', async () => {
    const dave = await cluster.user();
    const created = await upload(dave.token, 'some notes about voices', '../../etc/passwd.txt');
    expect(created.status).toBe(202);
    expect(created.body['document'].filePath).toBe(`documents/${dave.id}/${created.body['document'].id}/original.txt`);
    expect(created.body['document'].metadata.filename).toBe('passwd.txt');
    await ready(dave.token, created.body['document'].id);
  });

  it('ingests HTML, Markdown and JSON', async () => {
    const erin = await cluster.user();
    const html = await upload(
      erin.token,
      '<html><body><h1>Voices</h1><p>Speech synthesis turns text into audio.</p><script>x</script></body></html>',
      'page.html',
      'text/html',
    );
    const json = await upload(
      erin.token,
      JSON.stringify({ faq: [{ q: 'What is ASR?', a: 'Automatic speech recognition' }] }),
      'faq.json',
      'application/json',
    );
    const md = await upload(erin.token, '# Title\n\nWake words start a **session**.', 'notes.md', 'text/markdown');
    for (const doc of [html, json, md]) await ready(erin.token, doc.body['document'].id);
    const socket = await cluster.connect(0, erin);
    const asr = await request<RetrieveResult>(socket, 'retrieve', { query: 'automatic speech recognition', topK: 1 });
    expect(asr.ok && asr.data.chunks[0]?.documentId).toBe(json.body['document'].id);
    const synthesis = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'speech synthesis text audio',
      topK: 1,
    });
    expect(synthesis.ok && synthesis.data.chunks[0]?.content).not.toContain('<p>');
  }, 60_000);

  it('ingests a PDF: its text is searchable, its entities are in the graph, and the original downloads intact', async () => {
    const frank = await cluster.user();
    const pdf = pdfWithLines([
      'Kubernetes schedules containers onto nodes.',
      'Kubernetes restarts failed pods automatically.',
    ]);
    const created = await upload(frank.token, pdf, 'cluster.pdf', 'application/pdf');
    expect(created.body['document']).toMatchObject({
      mimeType: 'application/pdf',
      filePath: expect.stringMatching(/original\.pdf$/),
    });
    await ready(frank.token, created.body['document'].id);
    const socket = await cluster.connect(1, frank);
    const answer = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'which system restarts failed pods',
      topK: 1,
    });
    expect(answer.ok && answer.data.chunks[0]?.content).toContain('Kubernetes restarts failed pods automatically.');
    expect(answer.ok && answer.data.entities.map((e) => e.name)).toContain('Kubernetes');
    const content = await get(frank.token, `/v1/documents/${created.body['document'].id}/content`);
    expect(Buffer.from(await (await fetch(content.headers.get('location') as string)).arrayBuffer()).equals(pdf)).toBe(
      true,
    );
    const damaged = await upload(frank.token, Buffer.from('%PDF-1.4\nnot really'), 'broken.pdf', 'application/pdf');
    await eventually(
      async () =>
        expect((await get(frank.token, `/v1/documents/${damaged.body['document'].id}`)).body['document']).toMatchObject(
          { status: 'failed', statusReason: documentFailureReasons.unreadable },
        ),
      30_000,
    );
  }, 60_000);
});
