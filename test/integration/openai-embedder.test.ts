import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OpenAiEmbedder } from '../../src/stores/embeddings/openai-embedder.js';

// A small HTTP server speaking the OpenAI /v1/embeddings format on loopback, with knobs to
// fail, so the adapter's wire format, batching, retries and checks are exercised over a
// real connection.
describe('OpenAI-compatible embeddings adapter', () => {
  let server: Server;
  let url: string;
  const requests: { auth: string | undefined; model: string; input: string[] }[] = [];
  let failNext = 0;
  let status = 200;
  let dimension = 4;

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const parsed = JSON.parse(body) as { model: string; input: string[] };
        requests.push({ auth: req.headers.authorization, ...parsed });
        if (req.url !== '/v1/embeddings') return void res.writeHead(404).end();
        if (failNext > 0) {
          failNext--;
          return void res.writeHead(503).end();
        }
        if (status !== 200) return void res.writeHead(status).end('{}');
        const data = parsed.input.map((text, index) => ({
          index,
          embedding: Array.from({ length: dimension }, (_, i) => text.length + i),
        }));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: data.reverse() }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const embedder = (overrides: Partial<ConstructorParameters<typeof OpenAiEmbedder>[0]> = {}) =>
    new OpenAiEmbedder({
      url,
      model: 'test-model',
      apiKey: 'test-only-key',
      dimension: 4,
      batchSize: 2,
      attempts: 3,
      timeoutMs: 2_000,
      ...overrides,
    });

  it('sends batches with the model and key, and returns vectors in input order', async () => {
    requests.length = 0;
    const vectors = await embedder().embed(['a', 'bb', 'ccc', 'dddd', 'e']);
    expect(vectors.map((v) => v[0])).toEqual([1, 2, 3, 4, 1]);
    expect(requests.map((r) => r.input)).toEqual([['a', 'bb'], ['ccc', 'dddd'], ['e']]);
    expect(requests[0]).toMatchObject({ auth: 'Bearer test-only-key', model: 'test-model' });
  });

  it('retries a failing endpoint and then succeeds', async () => {
    failNext = 2;
    expect(await embedder().embed(['xy'])).toEqual([[2, 3, 4, 5]]);
  });

  it('answers UNAVAILABLE after the retries, for a refused request, and for vectors of the wrong dimension', async () => {
    failNext = 5;
    await expect(embedder({ attempts: 2 }).embed(['x'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    failNext = 0;
    status = 400;
    requests.length = 0;
    await expect(embedder().embed(['x'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(requests).toHaveLength(1); // a 4xx is not retried
    status = 200;
    dimension = 3;
    await expect(embedder().embed(['x'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    dimension = 4;
  });
});
