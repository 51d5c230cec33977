import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DocumentStatusEvent, documentFailureReasons } from '../../protocol/events.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { serviceEnv } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';

/** The sentences an owner may be told; nothing else. */
const FIXED = new Set<string>(Object.values(documentFailureReasons));

/** Text that would give away the inside of the deployment: hosts, ports, drivers, stacks. */
function expectNothingInternal(reason: string, proxy: TcpProxy): void {
  expect(FIXED.has(reason), reason).toBe(true);
  for (const leak of ['127.0.0.1', String(proxy.port), 'ECONNREFUSED', 'UNAVAILABLE', 'grpc', ' at ', 'Error'])
    expect(reason, leak).not.toContain(leak);
}

describe('a document that fails to ingest tells its owner a fixed reason (Milvus cut off)', () => {
  let proxy: TcpProxy;
  let cluster: TestCluster;

  beforeAll(async () => {
    const milvus = serviceEnv().MILVUS_ADDRESS.split(':');
    proxy = await TcpProxy.start({ host: milvus[0] as string, port: Number(milvus[1]) });
    cluster = await TestCluster.start(1, {
      MILVUS_ADDRESS: `127.0.0.1:${proxy.port}`,
      DEPENDENCY_TIMEOUT_MS: '500',
      // One attempt, and an outage waited out for a moment only: the failure is recorded at once.
      INGEST_ATTEMPTS: '1',
      INGEST_OUTAGE_BUDGET_MS: '1',
    });
  });
  afterAll(async () => {
    await proxy?.up().catch(() => undefined);
    await cluster?.stop();
    await proxy?.down();
  });

  it("pushes document:status and answers GET /v1/documents/:id with a reason from the fixed set, never the driver's error", async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(0, owner);
    const statuses = collect<DocumentStatusEvent>(socket, 'document:status');
    await proxy.down();
    const url = cluster.urls[0] as string;
    const uploaded = await call(url, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('Milvus holds the vectors of this document. It is unreachable now.', 'a.txt'),
    });
    expect(uploaded.status).toBe(202);
    const id = uploaded.body['document'].id as string;

    await eventually(
      () => expect(statuses.at(-1)).toMatchObject({ documentId: id, status: 'failed', stage: 'failed' }),
      60_000,
    );
    const pushed = String(statuses.at(-1)?.reason);
    expect(pushed).toBe(documentFailureReasons.search_index);
    expectNothingInternal(pushed, proxy);

    const read = await call(url, 'GET', `/v1/documents/${id}`, { token: owner.token });
    expect(read.body['document']).toMatchObject({ status: 'failed', statusReason: pushed });
    const listed = await call(url, 'GET', '/v1/documents', { token: owner.token });
    expect(listed.body['documents'][0]).toMatchObject({ id, statusReason: pushed });
    await proxy.up();
  }, 90_000);

  it('tells the owner of a file the parser cannot read that it is unreadable', async () => {
    const owner = await cluster.user();
    const url = cluster.urls[0] as string;
    const uploaded = await call(url, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm(Buffer.from('%PDF-1.7\nnot a PDF past its header'), 'broken.pdf', {}, 'application/pdf'),
    });
    expect(uploaded.status).toBe(202);
    const id = uploaded.body['document'].id as string;
    await eventually(async () => {
      const read = await call(url, 'GET', `/v1/documents/${id}`, { token: owner.token });
      expect(read.body['document']).toMatchObject({
        status: 'failed',
        statusReason: documentFailureReasons.unreadable,
      });
    }, 30_000);
  }, 60_000);

  it('shows a reason stored before v5 (raw driver text) as the generic one', async () => {
    const owner = await cluster.user();
    const url = cluster.urls[0] as string;
    const uploaded = await call(url, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm('An older document that failed long ago.', 'old.txt'),
    });
    const id = uploaded.body['document'].id as string;
    await eventually(async () => {
      const read = await call(url, 'GET', `/v1/documents/${id}`, { token: owner.token });
      expect(read.body['document'].status).not.toBe('processing');
    }, 30_000);
    await cluster
      .sql()
      .query("update documents set status = 'failed', status_reason = $2 where id = $1", [
        id,
        `14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:${proxy.port}`,
      ]);
    const read = await call(url, 'GET', `/v1/documents/${id}`, { token: owner.token });
    expect(read.body['document']).toMatchObject({ status: 'failed', statusReason: documentFailureReasons.failed });
  }, 60_000);
});
