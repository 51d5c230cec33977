import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentFailureReasons } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import { request } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';
import { proxyFor, type TcpProxy } from '../helpers/tcp-proxy.js';

/** Resolves with the ack and how long it took. */
async function timed<T>(work: Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await work;
  return { value, ms: Date.now() - started };
}

describe('every dependency call has a deadline (two nodes, one behind proxies that hang)', () => {
  let cluster: TestCluster;
  let postgres: TcpProxy;
  let s3: TcpProxy;
  let redis: TcpProxy;

  beforeAll(async () => {
    const env = serviceEnv();
    const pgProxy = await proxyFor(env.DATABASE_URL);
    const s3Proxy = await proxyFor(env.S3_ENDPOINT);
    const redisProxy = await proxyFor(env.REDIS_URL);
    [postgres, s3, redis] = [pgProxy.proxy, s3Proxy.proxy, redisProxy.proxy];
    cluster = await TestCluster.start(1, { DB_LOCK_TIMEOUT_MS: '500' });
    await cluster.addNode({
      DATABASE_URL: pgProxy.url,
      S3_ENDPOINT: s3Proxy.url,
      REDIS_URL: redisProxy.url,
      DB_STATEMENT_TIMEOUT_MS: '1000',
      DB_LOCK_TIMEOUT_MS: '500',
      GROUP_COMMIT_QUEUE_TIMEOUT_MS: '1000',
      S3_TIMEOUT_MS: '1000',
      DEPENDENCY_TIMEOUT_MS: '500',
    });
  });
  afterAll(async () => {
    for (const proxy of [postgres, s3, redis]) proxy?.unstall();
    await cluster?.stop();
    for (const proxy of [postgres, s3, redis]) await proxy?.down();
  });

  it('a hung PostgreSQL: sends answer UNAVAILABLE in bounded time, queued ones never reach it, and resends store each message once', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(1, owner);
    const sessionId = await cluster.session(socket);
    const ids = Array.from({ length: 8 }, () => randomUUID());
    postgres.stall();
    let acks;
    try {
      acks = await Promise.all(
        ids.map((clientMsgId) =>
          timed(request(socket, 'message:send', { sessionId, clientMsgId, content: clientMsgId })),
        ),
      );
    } finally {
      postgres.unstall();
    }
    for (const { value, ms } of acks) {
      expect(value).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
      expect(ms).toBeLessThan(9_000);
    }
    for (const clientMsgId of ids) {
      await eventually(
        async () =>
          expect(await request(socket, 'message:send', { sessionId, clientMsgId, content: clientMsgId })).toMatchObject(
            { ok: true },
          ),
        15_000,
      );
    }
    const { rows } = await cluster
      .sql()
      .query('select client_msg_id from messages where session_id = $1 order by seq', [sessionId]);
    expect(rows.map((r) => r.client_msg_id).sort()).toEqual([...ids].sort());
  }, 60_000);

  it('a held LOCK TABLE: writes answer UNAVAILABLE after the lock timeout, not never', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(0, owner);
    const sessionId = await cluster.session(socket);
    const holder = new pg.Client({ connectionString: serviceEnv().DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table sessions in access exclusive mode');
      const update = await timed(request(socket, 'session:update', { sessionId, title: 'locked out' }));
      const send = await timed(request(socket, 'message:send', { sessionId, clientMsgId: 'x', content: 'x' }));
      for (const { value, ms } of [update, send]) {
        expect(value).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
        expect(ms).toBeLessThan(5_000);
      }
    } finally {
      await holder.query('rollback');
      await holder.end();
    }
    expect(await request(socket, 'message:send', { sessionId, clientMsgId: 'x', content: 'x' })).toMatchObject({
      ok: true,
      data: { message: { seq: 1 } },
    });
  });

  it('a hung S3: audio:end answers UNAVAILABLE in time and the same end succeeds once S3 answers again', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(1, owner);
    const sessionId = await cluster.session(socket);
    const bytes = randomBytes(5_000);
    await request(socket, 'audio:start', { sessionId, streamId: 'voice', mimeType: 'audio/ogg' });
    await request(socket, 'audio:chunk', { streamId: 'voice', index: 0, data: bytes });
    s3.stall();
    let ended;
    try {
      ended = await timed(request(socket, 'audio:end', { streamId: 'voice', clientMsgId: 'v' }));
    } finally {
      s3.unstall();
    }
    expect(ended.value).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE' } });
    expect(ended.ms).toBeLessThan(5_000);
    const retried = await request<{ message: Message }>(socket, 'audio:end', { streamId: 'voice', clientMsgId: 'v' });
    expect(retried).toMatchObject({
      ok: true,
      data: { message: { contentType: 'audio', metadata: { bytes: 5_000 } } },
    });
  });

  it('Redis down: message:send still commits and acks (PostgreSQL is the truth), and the other node delivers it', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(1, owner);
    const sessionId = await cluster.session(socket);
    const watcher = await cluster.connect(0, owner);
    await request(watcher, 'session:join', { sessionId });
    const seen = collect<{ message: Message }>(watcher, 'message:new');
    await redis.down();
    try {
      const plain = await timed(
        request(socket, 'message:send', { sessionId, clientMsgId: 'a', content: 'during the outage' }),
      );
      const final = await timed(
        request(socket, 'message:send', {
          sessionId,
          clientMsgId: 'b',
          content: 'a final',
          metadata: { streamId: 'tts' },
        }),
      );
      for (const { value, ms } of [plain, final]) {
        expect(value).toMatchObject({ ok: true });
        expect(ms).toBeLessThan(3_000);
      }
      await eventually(
        () => expect(seen.map((s) => s.message.content)).toEqual(['during the outage', 'a final']),
        10_000,
      );
    } finally {
      await redis.up();
    }
  }, 30_000);
});

describe('document parsing has a time limit (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, {
      PARSE_TIMEOUT_MS: '1000',
      INGEST_ATTEMPTS: '1',
      DOCUMENT_MAX_BYTES: String(32 * 1024 * 1024),
      INGEST_CONCURRENCY: '1',
    });
  });
  afterAll(() => cluster?.stop());

  it('fails a document whose parsing runs too long, and the next document still ingests', async () => {
    const owner = await cluster.user();
    // ~20 MB that take ~3.5 s to parse on an idle machine (4.8 MB took 0.9 s, too close to a
    // limit of 1.5 s), while a fresh worker parses the short note in ~0.15 s.
    const sentences = Array.from(
      { length: 250_000 },
      (_, i) => `Sentence ${i} mentions Alpha Corp, Beta Labs and the river Gamma near Delta City.`,
    ).join(' ');
    const slow = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm(sentences, 'slow.txt'),
    });
    const quick = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('A short note about tides.', 'quick.txt'),
    });
    const status = async (id: string) =>
      (await call(cluster.urls[1] as string, 'GET', `/v1/documents/${id}`, { token: owner.token })).body['document'];
    await eventually(async () => expect((await status(slow.body['document'].id))?.status).toBe('failed'), 30_000);
    // Its owner hears the fixed sentence of a parse that did not finish.
    expect((await status(slow.body['document'].id))?.statusReason).toBe(documentFailureReasons.unprocessable);
    await eventually(async () => expect((await status(quick.body['document'].id))?.status).toBe('ready'), 30_000);
  }, 60_000);
});
