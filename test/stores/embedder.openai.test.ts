import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { OpenAiEmbedder, retryAfterMs } from '../../src/stores/embeddings/openai-embedder.js';
import { embedderContract } from '../contract/embedder.contract.js';
import { freePort } from '../helpers/ports.js';

// A model behind an OpenAI-compatible /v1/embeddings endpoint on loopback, deterministic (a
// vector is a hash of its text), answering out of order with indexes as the format allows.
// The path says how it behaves: /<mode>/<dimension>/v1/embeddings. It listens before the
// suite is declared, since the suite makes its embedder then.
/** Requests received per mode. */
const requests = new Map<string, number>();
const server: Server = createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    const [, mode, dim] = (req.url ?? '').split('/');
    const dimension = Number(dim);
    if (mode === 'hang') return;
    requests.set(mode ?? '', (requests.get(mode ?? '') ?? 0) + 1);
    // Busy: 429 with a Retry-After, on the first request of each such mode only.
    if (mode === 'busy-retry-0' && requests.get(mode) === 1)
      return void res.writeHead(429, { 'retry-after': '0' }).end();
    if (mode === 'busy-retry-hour') return void res.writeHead(429, { 'retry-after': '3600' }).end();
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

describe("the endpoint's Retry-After", () => {
  it('is waited out when it says when to come back, instead of failing or backing off blindly', async () => {
    const vectors = await embedder('busy-retry-0').embed(['one']);
    expect(vectors).toHaveLength(1);
    expect(requests.get('busy-retry-0')).toBe(2);
  });

  it('fails the batch at once when it asks for longer than the embedder waits', async () => {
    await expect(embedder('busy-retry-hour').embed(['one'])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(requests.get('busy-retry-hour')).toBe(1);
  });

  it('is read in seconds or as an HTTP date', () => {
    const now = Date.parse('2026-12-06T08:00:00Z');
    expect(retryAfterMs('2', now)).toBe(2000);
    expect(retryAfterMs('Sun, 06 Dec 2026 08:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('Sun, 06 Dec 2026 07:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null, now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs('-1', now)).toBeUndefined();
  });
});
