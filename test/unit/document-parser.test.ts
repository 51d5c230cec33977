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

  it('refuses past its queue at once, gives up a parse past its time alone, and lets a caller cancel one', async () => {
    // A limit of 2 s: a fresh thread starts well within it (the parse after the timeouts needs
    // one), and the big document takes about 5 s on an idle machine, longer on a busy one.
    const small = new WorkerDocumentParser(
      { extractor: 'keywords', maxEntitiesPerDocument: 100 },
      { threads: 1, maxQueue: 1, timeoutMs: 2_000, maxMemoryMb: 1_024 },
    );
    try {
      const big = Array.from({ length: 360_000 }, (_, i) => `Sentence ${i} names Alpha Corp and Beta Labs.`).join(' ');
      const slow = small.parse({ body: Buffer.from(big), type: 'text/plain', document });
      const queued = small.parse({ body: Buffer.from(big), type: 'text/plain', document });
      await expect(
        small.parse({ body: Buffer.from('one too many'), type: 'text/plain', document }),
      ).rejects.toMatchObject({ code: 'UNAVAILABLE' });
      await expect(slow).rejects.toThrow('parsing took longer than 2000 ms and was stopped');
      await expect(queued).rejects.toThrow('parsing took longer than 2000 ms');
      // The pool goes on with a fresh thread.
      const after = await small.parse({ body: Buffer.from('Tides follow the moon.'), type: 'text/plain', document });
      expect(after.chunks).toHaveLength(1);
      const cancelled = new AbortController();
      const parsing = small.parse({ body: Buffer.from(big), type: 'text/plain', document }, cancelled.signal);
      cancelled.abort();
      await expect(parsing).rejects.toThrow();
    } finally {
      await small.close();
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
