import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { call, documentForm } from '../helpers/http.js';

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

describe('a 12 MB document on Milvus (two nodes)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { DOCUMENT_MAX_BYTES: String(13 * 1024 * 1024), EMBEDDING_DIM: '256' });
  });
  afterAll(() => cluster?.stop());

  it('becomes ready with every chunk counted and searchable (more than the 16,384 rows a Milvus query returns)', async () => {
    const owner = await cluster.user();
    const parts = ['The obelisk of Aksum stands at the start of this very long file. '];
    let size = parts[0]!.length;
    for (let i = 0; size < 12 * 1024 * 1024; i++) {
      const sentence = `Line ${i} of the ledger names the ${WORDS[i % 12]}, the ${WORDS[(i * 7) % 12]} and the ${WORDS[(i * 5 + 3) % 12]}. `;
      parts.push(sentence);
      size += sentence.length;
    }
    const uploaded = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm(parts.join(''), 'ledger.txt'),
    });
    expect(uploaded.status).toBe(202);
    const id = uploaded.body['document'].id as string;
    let document: Record<string, any> = {};
    await eventually(async () => {
      document = (await call(cluster.urls[1] as string, 'GET', `/v1/documents/${id}`, { token: owner.token })).body[
        'document'
      ];
      expect(document['status']).toBe('ready');
    }, 170_000);
    expect(document['chunkCount']).toBeGreaterThan(16_384);
    expect(await cluster.nodes[1]!.stores.vectors.countByDocument(id)).toBe(document['chunkCount']);
    const socket = await cluster.connect(1, owner);
    const answer = await request<RetrieveResult>(socket, 'retrieve', {
      query: 'obelisk of Aksum',
      topK: 1,
      graphDepth: 0,
    });
    expect(answer.ok && answer.data.chunks[0]?.documentId).toBe(id);
  }, 180_000);
});
