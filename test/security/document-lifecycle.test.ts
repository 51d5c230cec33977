import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { freshDatabase } from '../helpers/database.js';
import { serviceEnv, testLogger, uniqueName } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

const WORDS = [
  'harbour',
  'lantern',
  'granite',
  'meadow',
  'falcon',
  'copper',
  'willow',
  'ember',
  'quarry',
  'tundra',
  'saffron',
  'glacier',
];

/** About `bytes` of plain sentences, different enough to make many chunks. */
function longText(bytes: number, marker: string): string {
  const parts: string[] = [`The ${marker} appears in the first line.`];
  let size = parts[0]!.length;
  for (let i = 0; size < bytes; i++) {
    const sentence = `Sentence ${i} tells of the ${WORDS[i % WORDS.length]} near the ${WORDS[(i * 7) % WORDS.length]} and the ${WORDS[(i * 5 + 3) % WORDS.length]}. `;
    parts.push(sentence);
    size += sentence.length;
  }
  return parts.join('');
}

describe('documents: delete against ingestion, stuck documents, orphaned objects (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    // The reconciler repairs everything in its database, bucket and collection: this cluster gets its own.
    cluster = await TestCluster.start(2, {
      DATABASE_URL: await freshDatabase(),
      MILVUS_COLLECTION: uniqueName('reconcile'),
      S3_BUCKET: uniqueName('reconcile').replace(/_/g, '-'),
      DOCUMENT_MAX_BYTES: String(4 * 1024 * 1024),
      RECONCILE_INTERVAL_MS: '300',
      RECONCILE_GRACE_MS: '1500',
    });
  });
  afterAll(() => cluster?.stop());

  const node = (i: number) => cluster.nodes[i]!;
  const status = async (token: string, id: string) =>
    (await call(cluster.urls[1] as string, 'GET', `/v1/documents/${id}`, { token })).body['document']?.status;

  it('deletes a large document in the middle of its ingestion, and nothing of it is left in any store', async () => {
    const owner = await cluster.user();
    const uploaded = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm(longText(1_500_000, 'zeppelin'), 'big.txt'),
    });
    expect(uploaded.status).toBe(202);
    const id = uploaded.body['document'].id as string;
    const chunks = async () =>
      (await cluster.sql().query('select count(*)::int as n from document_chunks where document_id = $1', [id])).rows[0]
        .n as number;
    // Its chunks are stored: the ingestion is embedding and indexing now.
    await eventually(async () => expect(await chunks()).toBeGreaterThan(0), 20_000);
    expect(await status(owner.token, id)).toBe('processing');
    expect(
      (await call(cluster.urls[1] as string, 'DELETE', `/v1/documents/${id}`, { token: owner.token })).status,
    ).toBe(204);
    expect((await call(cluster.urls[0] as string, 'GET', `/v1/documents/${id}`, { token: owner.token })).status).toBe(
      404,
    );
    // Once no worker holds the document, whatever the ingestion would have written is there.
    await eventually(async () => {
      const lock = await node(0).stores.locks.tryAcquire(`document:${id}`, 1_000);
      expect(lock).toBeDefined();
      await lock?.release();
    }, 30_000);
    expect(await node(1).stores.vectors.countByDocument(id)).toBe(0);
    expect(await chunks()).toBe(0);
    expect(await node(0).stores.db.documents.get(id)).toBeUndefined();
    expect(await node(1).stores.graph.documentEntities(id, 10)).toEqual([]);
    expect(await node(0).stores.objects.list(`documents/${owner.id}/`)).toEqual([]);
    const socket = await cluster.connect(1, owner);
    const answer = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'zeppelin harbour lantern',
      graphDepth: 0,
    });
    expect(answer.ok && answer.data.chunks).toEqual([]);
  }, 60_000);

  it('re-queues documents stuck in processing, finishes interrupted deletes, and removes objects no row refers to', async () => {
    const owner = await cluster.user();
    const objects = node(1).stores.objects;
    const documents = node(0).stores.db.documents;
    const backdate = (id: string) =>
      cluster.sql().query("update documents set updated_at = now() - interval '1 hour' where id = $1", [id]);

    // A row whose enqueue never happened.
    const lostId = randomUUID();
    const lostKey = `documents/${owner.id}/${lostId}/original.txt`;
    await objects.put(lostKey, Buffer.from('The astrolabe measured the height of stars.'), {
      contentType: 'text/plain',
    });
    await documents.create({
      id: lostId,
      userId: owner.id,
      title: 'lost',
      filePath: lostKey,
      fileSize: 44,
      mimeType: 'text/plain',
    });
    await backdate(lostId);
    // A document that was ingested, then found in processing again: its finished job is replaced.
    const done = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('Sextants need a clear horizon.', 'sextant.txt'),
    });
    const doneId = done.body['document'].id as string;
    await eventually(async () => expect(await status(owner.token, doneId)).toBe('ready'), 20_000);
    await cluster.sql().query("update documents set status = 'processing' where id = $1", [doneId]);
    await backdate(doneId);
    // A delete whose node died after the tombstone.
    const halfId = randomUUID();
    const halfKey = `documents/${owner.id}/${halfId}/original.txt`;
    await objects.put(halfKey, Buffer.from('half deleted'), { contentType: 'text/plain' });
    await documents.create({
      id: halfId,
      userId: owner.id,
      title: 'half',
      filePath: halfKey,
      fileSize: 12,
      mimeType: 'text/plain',
    });
    await documents.markDeleting(halfId);
    await backdate(halfId);
    // Objects nobody refers to, and audio that a message does refer to.
    const strayDocument = `documents/${owner.id}/${randomUUID()}/original.txt`;
    await objects.put(strayDocument, Buffer.from('stray'), { contentType: 'text/plain' });
    const socket = await cluster.connect(0, owner);
    const sessionId = await cluster.session(socket);
    const strayAudio = `audio/${sessionId}/${randomUUID()}.webm`;
    await objects.put(strayAudio, randomBytes(10), { contentType: 'audio/webm' });
    await request(socket, 'audio:start', { sessionId, streamId: 'keep', mimeType: 'audio/webm' });
    await request(socket, 'audio:chunk', { streamId: 'keep', index: 0, data: randomBytes(10) });
    const kept = await request<{ message: Message }>(socket, 'audio:end', { streamId: 'keep', clientMsgId: 'keep' });
    const keptKey = kept.ok ? String(kept.data.message.metadata['objectKey']) : '';

    await eventually(async () => {
      expect(await status(owner.token, lostId)).toBe('ready');
      expect(await status(owner.token, doneId)).toBe('ready');
      expect(await documents.get(halfId)).toBeUndefined();
      const left = (await objects.list(`documents/${owner.id}/`)).map((o) => o.key).sort();
      expect(left).toEqual([lostKey, `documents/${owner.id}/${doneId}/original.txt`].sort());
      expect((await objects.list(`audio/${sessionId}/`)).map((o) => o.key)).toEqual([keptKey]);
    }, 30_000);
    const answer = await request<RetrieveResult>(socket, 'retrieve', { query: 'astrolabe stars', graphDepth: 0 });
    expect(answer.ok && answer.data.chunks[0]?.documentId).toBe(lostId);
  }, 60_000);

  it('removes the audio of messages that partition retention dropped', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(1, owner);
    const sessionId = await cluster.session(socket);
    await request(socket, 'audio:start', { sessionId, streamId: 'old', mimeType: 'audio/webm' });
    await request(socket, 'audio:chunk', { streamId: 'old', index: 0, data: randomBytes(10) });
    const old = await request<{ message: Message }>(socket, 'audio:end', { streamId: 'old', clientMsgId: 'old' });
    expect(old.ok).toBe(true);
    const oldKey = old.ok ? String(old.data.message.metadata['objectKey']) : '';
    const { objects } = node(0).stores;
    const pool = cluster.sql();
    expect((await objects.list(`audio/${sessionId}/`)).map((o) => o.key)).toEqual([oldKey]);
    // The message moves to a month long past, which retention then drops with its partition.
    await pool.query("update messages set created_at = now() - interval '3 years' where session_id = $1", [sessionId]);
    const report = await maintainPartitions(pool, { monthsAhead: 1, retentionMonths: 12 }, testLogger());
    expect(report.dropped.length).toBeGreaterThan(0);
    expect((await pool.query('select 1 from messages where session_id = $1', [sessionId])).rowCount).toBe(0);
    await eventually(async () => expect(await objects.list(`audio/${sessionId}/`)).toEqual([]), 30_000);
  }, 60_000);

  it('continues a fencing counter Redis lost above what PostgreSQL recorded, and forgets both when the document goes', async () => {
    const owner = await cluster.user();
    const done = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('Quadrants measure angles.', 'q.txt'),
    });
    const id = done.body['document'].id as string;
    await eventually(async () => expect(await status(owner.token, id)).toBe('ready'), 20_000);
    const recorded = async () =>
      (await cluster.sql().query('select token from fencing_tokens where resource = $1', [`document:${id}`])).rows;
    expect((await recorded()).length).toBe(1);
    // The document had been locked many times; then Redis loses the counter (expired,
    // restarted empty), and the document is ingested again.
    await cluster.sql().query('update fencing_tokens set token = 41 where resource = $1', [`document:${id}`]);
    await cluster.redis().del(`vh:fence:document:${id}`);
    await cluster
      .sql()
      .query("update documents set status = 'processing', updated_at = now() - interval '1 hour' where id = $1", [id]);
    await eventually(async () => expect(await status(owner.token, id)).toBe('ready'), 30_000);
    expect(Number((await recorded())[0]?.token)).toBe(42);
    expect(
      (await call(cluster.urls[1] as string, 'DELETE', `/v1/documents/${id}`, { token: owner.token })).status,
    ).toBe(204);
    expect(await recorded()).toEqual([]);
    expect(await cluster.redis().exists(`vh:fence:document:${id}`)).toBe(0);
  }, 60_000);

  it('deletes refresh tokens expired long ago', async () => {
    const owner = await cluster.user();
    const pool = cluster.sql();
    await pool.query(
      `insert into refresh_tokens (id, user_id, family_id, token_hash, expires_at)
       values (gen_random_uuid(), $1, gen_random_uuid(), '\\x00', now() - interval '2 days'), (gen_random_uuid(), $1, gen_random_uuid(), '\\x00', now() + interval '1 day')`,
      [owner.id],
    );
    await eventually(
      async () =>
        expect(
          (await pool.query('select count(*)::int as n from refresh_tokens where user_id = $1', [owner.id])).rows[0].n,
        ).toBe(1),
      10_000,
    );
  });
});

describe('an upload whose enqueue fails (two nodes, one cut off from Redis)', () => {
  let redis: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const proxied = await proxyFor(serviceEnv().REDIS_URL);
    redis = proxied.proxy;
    // Node 1 reaches Redis through a proxy the test cuts.
    cluster = await TestCluster.start(1);
    await cluster.addNode({ REDIS_URL: proxied.url, DEPENDENCY_TIMEOUT_MS: '500' });
  });
  afterAll(async () => {
    await redis?.up().catch(() => undefined);
    await cluster?.stop();
    await redis?.down();
  });

  it('answers UNAVAILABLE and keeps neither the row nor the file; the same upload succeeds on the other node', async () => {
    const owner = await cluster.user();
    await redis.down();
    try {
      const refused = await call(cluster.urls[1] as string, 'POST', '/v1/documents', {
        token: owner.token,
        form: documentForm('queued nowhere', 'q.txt'),
      });
      expect(refused).toMatchObject({ status: 503, body: { error: { code: 'UNAVAILABLE' } } });
      const rows = await cluster.sql().query('select count(*)::int as n from documents where user_id = $1', [owner.id]);
      expect(rows.rows[0].n).toBe(0);
      expect(await cluster.nodes[0]!.stores.objects.list(`documents/${owner.id}/`)).toEqual([]);
      const accepted = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
        token: owner.token,
        form: documentForm('queued somewhere', 'q.txt'),
      });
      expect(accepted.status).toBe(202);
    } finally {
      await redis.up();
    }
  }, 30_000);
});
