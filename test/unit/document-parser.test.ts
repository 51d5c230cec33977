import { afterAll, describe, expect, it } from 'vitest';
import { InlineDocumentParser, WorkerDocumentParser } from '../../src/services/documents/parsing.js';
import { KeywordEntityExtractor } from '../../src/services/graph/extraction.js';
import { LocalEmbedder } from '../../src/stores/embeddings/local-embedder.js';
import { pdfWithLines } from '../helpers/pdf.js';

const document = { id: 'doc-1', ownerId: 'owner-1', title: 'notes' };
const text =
  'OpenAI trains GPT-4 on Microsoft Azure. OpenAI sells GPT-4 through an API.\n\n人工智能是模拟人类智能的技术。机器学习是人工智能的一个分支。';

describe('document parsing on a worker thread', () => {
  const limits = { threads: 2, maxQueue: 64, timeoutMs: 120_000, maxMemoryMb: 1_024 };
  const parser = new WorkerDocumentParser({ extractor: 'keywords', maxEntitiesPerDocument: 100 }, limits);
  afterAll(() => parser.close());

  it('gives the same chunks and graph as parsing inline', async () => {
    const input = { body: Buffer.from(text), type: 'text/plain' as const, document };
    const [off, on] = [
      await new InlineDocumentParser(new KeywordEntityExtractor(100)).parse(input),
      await parser.parse(input),
    ];
    expect(on).toEqual(off);
    expect(on.graph.entities.map((e) => e.name)).toEqual(expect.arrayContaining(['OpenAI', 'GPT-4', '人工智能']));
    expect(on.graph.cooccurrences.length).toBeGreaterThan(0);
  });

  it('parses requests made at once, each to its own answer', async () => {
    const inputs = ['Alpha Centauri is near.', 'Betelgeuse is red. Betelgeuse is big.', 'Sirius is bright.'].map(
      (body, i) => ({
        body: Buffer.from(body),
        type: 'text/plain' as const,
        document: { ...document, id: `doc-${i}` },
      }),
    );
    const parsed = await Promise.all(inputs.map((input) => parser.parse(input)));
    expect(parsed.map((p) => p.graph.document.id)).toEqual(['doc-0', 'doc-1', 'doc-2']);
    expect(parsed.map((p) => p.chunks[0]?.content)).toEqual(inputs.map((i) => i.body.toString()));
  });

  it('reads PDFs there, and a refusal keeps its error code', async () => {
    const pdf = await parser.parse({
      body: pdfWithLines(['Kubernetes restarts pods.']),
      type: 'application/pdf',
      document,
    });
    expect(pdf.chunks[0]?.content).toContain('Kubernetes restarts pods.');
    await expect(
      parser.parse({ body: Buffer.from('%PDF-1.4 broken'), type: 'application/pdf', document }),
    ).rejects.toMatchObject({
      code: 'VALIDATION',
      message: 'the PDF could not be read',
    });
    await expect(parser.parse({ body: Buffer.from('   '), type: 'text/plain', document })).rejects.toMatchObject({
      code: 'VALIDATION',
    });
  });

  it('embeds with the local embedder there, the same vectors as on the main thread', async () => {
    const texts = ['speech recognition turns voice into text', '语音识别把声音变成文字', ''];
    const embedder = parser.localEmbedder(64);
    expect(embedder).toMatchObject({ dimension: 64, name: 'local-hash' });
    expect(await embedder.embed(texts)).toEqual(await new LocalEmbedder(64).embed(texts));
  });

  it('refuses past its queue at once, and gives up a request past its time', async () => {
    // A limit of 1 ms: no thread can start and answer within it, so each request times out.
    const hasty = new WorkerDocumentParser(
      { extractor: 'keywords', maxEntitiesPerDocument: 100 },
      { threads: 1, maxQueue: 1, timeoutMs: 1, maxMemoryMb: 1_024 },
    );
    try {
      const input = { body: Buffer.from('Tides follow the moon.'), type: 'text/plain' as const, document };
      const first = hasty.parse(input);
      const second = hasty.parse(input);
      await expect(hasty.parse(input)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(first).rejects.toThrow('parsing took longer than 1 ms and was stopped');
      await expect(second).rejects.toThrow('parsing took longer than 1 ms and was stopped');
    } finally {
      await hasty.close();
    }
  });

  it('gives up a parse its caller cancels, and goes on with a fresh thread', async () => {
    const pool = new WorkerDocumentParser(
      { extractor: 'keywords', maxEntitiesPerDocument: 100 },
      { threads: 1, maxQueue: 8, timeoutMs: 120_000, maxMemoryMb: 1_024 },
    );
    try {
      const small = (text: string) => ({ body: Buffer.from(text), type: 'text/plain' as const, document });
      // A warm, idle thread takes the big parse at once; the cancel then ends that thread.
      expect((await pool.parse(small('Warm up.'))).chunks).toHaveLength(1);
      const big = Array.from({ length: 360_000 }, (_, i) => `Sentence ${i} names Alpha Corp and Beta Labs.`).join(' ');
      const cancelled = new AbortController();
      const parsing = pool.parse(small(big), cancelled.signal);
      await new Promise((resolve) => setImmediate(resolve));
      cancelled.abort();
      await expect(parsing).rejects.toThrow();
      expect((await pool.parse(small('Tides follow the moon.'))).chunks).toHaveLength(1);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it('starts a new worker after close', async () => {
    await parser.close();
    const parsed = await parser.parse({
      body: Buffer.from('Still parsing after a restart.'),
      type: 'text/plain',
      document,
    });
    expect(parsed.chunks).toHaveLength(1);
  });
});
