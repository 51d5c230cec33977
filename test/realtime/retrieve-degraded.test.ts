import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import { request } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';

describe('retrieve with the vector store down', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    // Milvus on a port where nothing listens; the node still starts (the vector index is optional).
    cluster = await TestCluster.start(1, { MILVUS_ADDRESS: '127.0.0.1:1', DEPENDENCY_TIMEOUT_MS: '200' });
  });
  afterAll(() => cluster?.stop());

  it('answers with no chunks and degraded: [vector] instead of failing', async () => {
    const socket = await cluster.connect(0, await cluster.user());
    const answer = await request<RetrieveResult>(socket, 'retrieve', { query: 'anything at all' });
    expect(answer).toMatchObject({ ok: true, data: { chunks: [], entities: [], degraded: ['vector'] } });
  }, 40_000);
});
