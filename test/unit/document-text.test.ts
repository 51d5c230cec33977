import { describe, expect, it } from 'vitest';
import { chunkText, detectDocumentType, extractText } from '../../src/services/documents/text.js';
import { pdfWithLines } from '../helpers/pdf.js';

describe('document types and text', () => {
  const pdf = pdfWithLines([
    'OpenAI trains GPT-4 on Microsoft Azure.',
    'Speech recognition (ASR) turns voice into text.',
  ]);

  it('knows a PDF by its header, whatever its name, unless its declared type says otherwise', () => {
    expect(detectDocumentType(pdf.subarray(0, 4096), 'application/pdf', 'report.pdf')).toBe('application/pdf');
    expect(detectDocumentType(pdf.subarray(0, 4096), undefined, 'report')).toBe('application/pdf');
    expect(detectDocumentType(pdf.subarray(0, 4096), 'application/octet-stream', 'x.bin')).toBe('application/pdf');
    expect(() => detectDocumentType(pdf.subarray(0, 4096), 'text/plain', 'report.pdf')).toThrow(
      /PDF declared as text\/plain/,
    );
    expect(() => detectDocumentType(Buffer.from('plain words'), 'application/pdf', 'fake.pdf')).toThrow(/not a PDF/);
    expect(detectDocumentType(Buffer.from('plain words'), undefined, 'notes.pdf')).toBe('text/plain');
  });

  it('extracts the text of a PDF, line by line', async () => {
    const text = await extractText(pdf, 'application/pdf');
    expect(text).toContain('OpenAI trains GPT-4 on Microsoft Azure.');
    expect(text).toContain('Speech recognition (ASR) turns voice into text.');
    expect(chunkText(text)).toHaveLength(1);
  });

  it('refuses a damaged PDF with VALIDATION', async () => {
    await expect(
      extractText(Buffer.from('%PDF-1.4\nthis is not a pdf at all'), 'application/pdf'),
    ).rejects.toMatchObject({ code: 'VALIDATION' });
    await expect(extractText(pdf.subarray(0, 200), 'application/pdf')).rejects.toMatchObject({ code: 'VALIDATION' });
  });

  it('still refuses other binary files', () => {
    expect(() => detectDocumentType(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0]), 'image/png', 'a.png')).toThrow();
  });
});
