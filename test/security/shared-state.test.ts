import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import type { Message } from '../../protocol/models.js';
import { packageRoot } from '../../src/util/package-root.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv, TEST_JWT_SECRET, tempDir, uniqueName } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';

/** Nodes that share only PostgreSQL and Redis (no Milvus, no Neo4j, no S3). */
const ONLY_POSTGRES_AND_REDIS = { MILVUS_ADDRESS: '', NEO4J_URI: '', S3_ENDPOINT: '', EMBEDDING_DIM: '64' };

describe('two nodes sharing only PostgreSQL and Redis keep one state', () => {
  let cluster: TestCluster;
  const dataDir = tempDir();
  const bucket = uniqueName('bucket').replace(/_/g, '-');

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { ...ONLY_POSTGRES_AND_REDIS, DATA_DIR: dataDir, S3_BUCKET: bucket });
  });
  afterAll(() => cluster?.stop());

  it('answers retrieval identically on both nodes, and a delete on one is seen by the other', async () => {
    const owner = await cluster.user();
    const uploaded = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('Tide tables predict the height of the sea at each hour of the day.', 'tides.txt'),
    });
    const id = uploaded.body['document'].id as string;
    await eventually(
      async () =>
        expect(
          (await call(cluster.urls[1] as string, 'GET', `/v1/documents/${id}`, { token: owner.token })).body['document']
            .status,
        ).toBe('ready'),
      20_000,
    );
    const answers = [];
    for (const node of [0, 1]) {
      const socket = await cluster.connect(node, owner);
      const answer = await request<RetrieveResult>(socket, 'retrieve', { query: 'height of the sea', graphDepth: 0 });
      if (!answer.ok) throw new Error(JSON.stringify(answer.error));
      answers.push(answer.data.chunks.map((c) => [c.chunkId, c.documentId, Math.round(c.score * 1e6)]));
    }
    expect(answers[0]?.[0]?.[1]).toBe(id);
    expect(answers[1]).toEqual(answers[0]);

    expect(
      (await call(cluster.urls[1] as string, 'DELETE', `/v1/documents/${id}`, { token: owner.token })).status,
    ).toBe(204);
    const socket = await cluster.connect(0, owner);
    const after = await request<RetrieveResult>(socket, 'retrieve', { query: 'height of the sea', graphDepth: 0 });
    expect(after.ok && after.data.chunks).toEqual([]);
  }, 40_000);

  it('serves files and audio stored through one node from the other, as attachments', async () => {
    const owner = await cluster.user();
    const html = '<p onmouseover="alert(1)">hi</p>';
    const uploaded = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm(html, 'p.html', {}, 'text/html'),
    });
    const redirect = await call(
      cluster.urls[1] as string,
      'GET',
      `/v1/documents/${uploaded.body['document'].id}/content`,
      { token: owner.token },
    );
    const file = await fetch(redirect.headers.get('location') as string);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/octet-stream');
    expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="p\.html"/);
    expect(file.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await file.text()).toBe(html);

    const speaker = await cluster.connect(0, owner);
    const sessionId = await cluster.session(speaker);
    const bytes = randomBytes(200);
    await request(speaker, 'audio:start', { sessionId, streamId: 'mic', mimeType: 'audio/ogg' });
    await request(speaker, 'audio:chunk', { streamId: 'mic', index: 0, data: bytes });
    const ended = await request<{ message: Message }>(speaker, 'audio:end', { streamId: 'mic', clientMsgId: 'm' });
    const listener = await cluster.connect(1, owner);
    const link = await request<{ url: string }>(listener, 'audio:url', {
      messageId: ended.ok ? ended.data.message.id : '',
    });
    const audio = await fetch(link.ok ? link.data.url : '');
    expect(audio.headers.get('content-type')).toBe('audio/ogg');
    expect(Buffer.from(await audio.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('refuses to start a node whose object directory is not the shared one, with one line naming S3_ENDPOINT', async () => {
    await expect(
      TestCluster.start(1, { ...ONLY_POSTGRES_AND_REDIS, DATA_DIR: tempDir(), S3_BUCKET: bucket }),
    ).rejects.toThrow(/S3_ENDPOINT/);
    const env = serviceEnv();
    const child = spawn(process.execPath, [path.join(packageRoot(), 'dist', 'src', 'main.js')], {
      env: {
        PATH: process.env['PATH'] ?? '',
        DATABASE_URL: env.DATABASE_URL,
        REDIS_URL: env.REDIS_URL,
        JWT_SECRET: TEST_JWT_SECRET,
        DATA_DIR: tempDir(),
        S3_BUCKET: bucket,
        PORT: '0',
        EMBEDDING_DIM: '64',
        MILVUS_COLLECTION: uniqueName('chunks'),
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^config error: S3_ENDPOINT: required for this cluster: the object directory /),
    ]);
  }, 60_000);
});
