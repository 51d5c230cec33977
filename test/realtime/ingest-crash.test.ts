import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { eventually, FAST_CLUSTER, TestCluster } from '../helpers/cluster.js';
import { LIFTED_LIMITS, serviceEnv, TEST_JWT_SECRET, tempDir, uniqueName } from '../helpers/env.js';
import { freePort } from '../helpers/ports.js';

// The node that takes the ingestion job is a child process, killed with SIGKILL right
// after the upload is accepted; a node of this process (same queue, same collection) must
// finish the document, exactly once.
describe('a node killed during ingestion', () => {
  let child: ChildProcess | undefined;
  let cluster: TestCluster | undefined;

  afterAll(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    await cluster?.stop();
  });

  it('leaves the document to another node, which makes it ready once', async () => {
    const shared = {
      INGEST_QUEUE: uniqueName('ingest'),
      MILVUS_COLLECTION: uniqueName('chunks'),
      REDIS_NAMESPACE: uniqueName('ns'),
      INGEST_STALLED_MS: '1500',
      EMBEDDING_DIM: '64',
    };
    const port = await freePort();
    child = spawn(process.execPath, [path.join(packageRoot(), 'dist', 'src', 'main.js')], {
      env: {
        PATH: process.env['PATH'] ?? '',
        ...serviceEnv(),
        ...FAST_CLUSTER,
        ...LIFTED_LIMITS,
        ...shared,
        PORT: String(port),
        HOST: '127.0.0.1',
        NODE_ID: `ingest-doomed-${port}`,
        JWT_SECRET: TEST_JWT_SECRET,
        DATA_DIR: tempDir(),
        LOG_LEVEL: 'warn',
      },
      stdio: 'ignore',
    });
    const doomed = `http://127.0.0.1:${port}`;
    await eventually(async () => expect((await fetch(`${doomed}/readyz`)).status).toBe(200), 30_000);

    // The survivor exists but does not process jobs until the child is gone.
    cluster = await TestCluster.start(1, shared);
    const survivor = cluster.nodes[0];
    const user = await cluster.user();
    const text = Array.from(
      { length: 400 },
      (_, i) => `Sentence number ${i} about voice sessions and transcripts.`,
    ).join(' ');
    const form = new FormData();
    form.append('file', new Blob([text], { type: 'text/plain' }), 'long.txt');
    const response = await fetch(`${doomed}/v1/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}` },
      body: form,
    });
    expect(response.status).toBe(202);
    child.kill('SIGKILL');
    const id = ((await response.json()) as { document: { id: string } }).document.id;

    await eventually(async () => expect((await survivor?.stores.db.documents.get(id))?.status).toBe('ready'), 30_000);
    const chunks = (await survivor?.stores.db.documents.chunks(id)) ?? [];
    expect(chunks.length).toBeGreaterThan(1);
    expect(new Set(chunks.map((c) => c.chunkIndex)).size).toBe(chunks.length);
    expect(await survivor?.stores.vectors.countByDocument(id)).toBe(chunks.length);
  }, 60_000);
});
