import { convert } from 'html-to-text';
import { AppError } from '../../errors/app-error.js';

/** Document types ingestion understands, by canonical MIME type. */
export const documentTypes = {
  'text/plain': 'txt',
  'text/markdown': 'md',
  'text/html': 'html',
  'application/json': 'json',
  'application/pdf': 'pdf',
} as const;
export type DocumentType = keyof typeof documentTypes;

const BY_EXTENSION: Record<string, DocumentType> = {
  txt: 'text/plain',
  text: 'text/plain',
  md: 'text/markdown',
  markdown: 'text/markdown',
  html: 'text/html',
  htm: 'text/html',
  json: 'application/json',
  pdf: 'application/pdf',
};

/** Most pages read from one PDF. */
const PDF_MAX_PAGES = 2_000;

function unsupported(message: string): AppError {
  return new AppError('VALIDATION', { message, details: { field: 'file', supported: Object.keys(documentTypes) } });
}

/**
 * Decides the type of an upload from its first bytes, its declared type and its name's
 * extension. A PDF is known by its `%PDF-` header. Text formats have no magic number, so
 * the bytes must be valid UTF-8 without NUL; a declared type must agree with what the
 * bytes can be.
 */
export function detectDocumentType(head: Buffer, declared: string | undefined, filename: string): DocumentType {
  if (head.length === 0) throw unsupported('the file is empty');
  const base = (declared ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (head.subarray(0, 5).toString('latin1') === '%PDF-') {
    if (base !== '' && base !== 'application/octet-stream' && base !== 'application/pdf')
      throw unsupported(`a PDF declared as ${base}`);
    return 'application/pdf';
  }
  if (base === 'application/pdf') throw unsupported('the file is not a PDF');
  if (head.includes(0)) throw unsupported('binary files are not supported');
  try {
    // Trailing bytes may be a cut multi-byte character: decode without the last 3.
    new TextDecoder('utf-8', { fatal: true }).decode(head.length > 3 ? head.subarray(0, head.length - 3) : head);
  } catch {
    throw unsupported('the file is not UTF-8 text');
  }
  const extension = filename.toLowerCase().split('.').pop() ?? '';
  const text = head.toString('utf8').trimStart();
  const sniffed: DocumentType | undefined =
    text.startsWith('{') || text.startsWith('[')
      ? 'application/json'
      : /^<(!doctype html|html|head|body|div|p|h1)\b/i.test(text)
        ? 'text/html'
        : undefined;
  const byExtension = BY_EXTENSION[extension];
  const claimed =
    (base in documentTypes ? (base as DocumentType) : undefined) ??
    (byExtension === 'application/pdf' ? undefined : byExtension);
  if (base !== '' && base !== 'application/octet-stream' && !(base in documentTypes))
    throw unsupported(`unsupported content type ${base}`);
  if (claimed === 'application/json' && sniffed !== 'application/json') throw unsupported('the file is not JSON');
  return claimed ?? sniffed ?? 'text/plain';
}

function jsonStrings(value: unknown, out: string[], depth = 0): void {
  if (depth > 64) return;
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) jsonStrings(item, out, depth + 1);
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      if (typeof inner === 'string') out.push(`${key}: ${inner}`);
      else jsonStrings(inner, out, depth + 1);
    }
  }
}

/** The plain text of a document. */
export async function extractText(body: Buffer, type: DocumentType): Promise<string> {
  if (type === 'application/pdf') return pdfText(body);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    throw unsupported('the file is not UTF-8 text');
  }
  switch (type) {
    case 'text/html':
      return convert(text, {
        wordwrap: false,
        selectors: [
          { selector: 'a', options: { ignoreHref: true } },
          { selector: 'img', format: 'skip' },
        ],
      });
    case 'application/json': {
      const out: string[] = [];
      try {
        jsonStrings(JSON.parse(text), out);
      } catch {
        throw unsupported('the file is not valid JSON');
      }
      return out.join('\n');
    }
    default:
      return text;
  }
}

/** A rough token count: words of alphabetic scripts plus CJK characters. */
export function countTokens(text: string): number {
  const cjk = text.match(/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/gu)?.length ?? 0;
  const words =
    text
      .replace(/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/gu, ' ')
      .match(/[\p{L}\p{N}]+/gu)?.length ?? 0;
  return cjk + words;
}

/** One chunk of a document's text. */
export interface TextChunk {
  chunkIndex: number;
  content: string;
  tokenCount: number;
}

/**
 * Splits text into chunks of about `size` characters that overlap by about `overlap`,
 * cutting at paragraph, sentence or word boundaries where one is near.
 */
export function chunkText(text: string, size = 800, overlap = 120): TextChunk[] {
  const clean = text
    .replace(/\r\n?/g, '\n')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: NUL cannot be stored by PostgreSQL: extracted text loses it
    .replace(/\u0000/g, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  const chunks: TextChunk[] = [];
  let start = 0;
  while (start < clean.length) {
    let end = Math.min(clean.length, start + size);
    if (end < clean.length) {
      const window = clean.slice(start + Math.floor(size / 2), end);
      const cut = Math.max(
        window.lastIndexOf('\n\n'),
        window.lastIndexOf('. '),
        window.lastIndexOf('。'),
        window.lastIndexOf('！'),
        window.lastIndexOf('？'),
      );
      const space = window.lastIndexOf(' ');
      const at = cut >= 0 ? cut + 1 : space;
      if (at >= 0) end = start + Math.floor(size / 2) + at + 1;
    }
    const content = clean.slice(start, end).trim();
    if (content !== '') chunks.push({ chunkIndex: chunks.length, content, tokenCount: countTokens(content) });
    if (end >= clean.length) break;
    start = Math.max(start + 1, end - overlap);
  }
  return chunks;
}

/**
 * The text of a PDF, page by page, with pdf.js (its legacy build: the modern one expects what only the newest browsers have).
 * Fonts, images and scripts are not loaded; a PDF that cannot be read (damaged, encrypted)
 * is a VALIDATION error, as an unreadable text file is.
 */
async function pdfText(body: Buffer): Promise<string> {
  const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
  const task = getDocument({
    data: new Uint8Array(body),
    disableFontFace: true,
    useSystemFonts: false,
    verbosity: 0,
  });
  try {
    const document = await task.promise;
    const pages: string[] = [];
    for (let number = 1; number <= Math.min(document.numPages, PDF_MAX_PAGES); number++) {
      const page = await document.getPage(number);
      const content = await page.getTextContent();
      pages.push(content.items.map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : '')).join(''));
      page.cleanup();
    }
    return pages.join('\n\n');
  } catch (error) {
    throw new AppError('VALIDATION', {
      message: 'the PDF could not be read',
      details: { field: 'file' },
      cause: error,
    });
  } finally {
    await task.destroy();
  }
}
