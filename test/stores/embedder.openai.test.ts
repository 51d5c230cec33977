import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll } from 'vitest';
import { OpenAiEmbedder } from '../../src/stores/embeddings/openai-embedder.js';
import { embedderContract } from '../contract/embedder.contract.js';
import { freePort } from '../helpers/ports.js';

// A model behind an OpenAI-compatible /v1/embeddings endpoint on loopback, deterministic (a
// vector is a hash of its text), answering out of order with indexes as the format allows.
// The path says how it behaves: /<mode>/<dimension>/v1/embeddings. It listens before the
// suite is declared, since the suite makes its embedder then.
const server: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    const [, mode, dim] = (req.url ?? '').split('/');
    const dimension = Number(dim);
    if (mode === 'hang') return;
    if (mode === 'status-503') return void res.writeHead(503).end();
    if (mode === 'status-401') return void res.writeHead(401).end('{"error":"bad key"}');
    if (mode === 'not-json') return void res.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
    const { input } = JSON.parse(body) as { input: string[] };
    const data = input.map((text, index) => {
      const bytes = createHash('sha512').update(text).digest();
      const length = mode === 'wrong-dimension' ? dimension + 1 : dimension;
      return { index, embedding: Array.from({ length }, (_, i) => (bytes[i % bytes.length] as number) / 255 - 0.5) };
    });
    if (mode === 'too-few') data.pop();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: data.reverse() }));
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

const embedder = (mode: string, dimension = 16, base?: string) =>
  new OpenAiEmbedder({
    url: `${base ?? origin}/${mode}/${dimension}/v1`,
    model: 'test-model',
    apiKey: 'test-only-key',
    dimension,
    // Several requests for the suite's texts.
    batchSize: 3,
    attempts: 2,
    timeoutMs: 500,
  });
const closedPort = await freePort();

embedderContract({
  name: 'OpenAI-compatible endpoint (over HTTP, in batches)',
  create: (dimension) => embedder('ok', dimension),
  failing: {
    'the endpoint is unreachable': () => embedder('ok', 16, `http://127.0.0.1:${closedPort}`),
    'the endpoint keeps answering 503': () => embedder('status-503'),
    'the endpoint refuses the request (401)': () => embedder('status-401'),
    'the endpoint does not answer in time': () => embedder('hang'),
    'the endpoint answers something else than JSON': () => embedder('not-json'),
    'the endpoint answers vectors of another dimension': () => embedder('wrong-dimension'),
    'the endpoint answers fewer vectors than texts': () => embedder('too-few'),
  },
});
