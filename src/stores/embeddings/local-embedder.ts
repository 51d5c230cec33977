import type { Embedder } from './embedder.js';

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const TOKEN = /[\p{L}\p{N}]+/gu;

/** FNV-1a, 32 bits, with a seed: stable across runs and platforms. */
function fnv1a(text: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The features of a text: whole words and character trigrams of words (so inflections and
 * typos still overlap) for alphabetic scripts, and character unigrams and bigrams for
 * Chinese, Japanese and Korean, which are written without spaces.
 */
export function features(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (feature: string, weight = 1) => counts.set(feature, (counts.get(feature) ?? 0) + weight);
  for (const token of text.normalize('NFKC').toLowerCase().match(TOKEN) ?? []) {
    let run = '';
    const flush = () => {
      if (run === '') return;
      add(`w:${run}`, 2);
      const padded = `^${run}$`;
      for (let i = 0; i + 3 <= padded.length; i++) add(`t:${padded.slice(i, i + 3)}`);
      run = '';
    };
    const chars = [...token];
    for (let i = 0; i < chars.length; i++) {
      const char = chars[i] as string;
      if (CJK.test(char)) {
        flush();
        add(`c:${char}`);
        const next = chars[i + 1];
        if (next !== undefined && CJK.test(next)) add(`b:${char}${next}`, 2);
      } else {
        run += char;
      }
    }
    flush();
  }
  return counts;
}

/**
 * A deterministic embedder that needs no model: hashed, signed features (feature hashing)
 * with sublinear term frequency, L2-normalised. It captures lexical overlap, in English
 * and Chinese alike, which is what the built-in default can promise; set EMBEDDINGS_URL for
 * a semantic model.
 */
export class LocalEmbedder implements Embedder {
  readonly name = 'local-hash';
  readonly inProcess = true;

  constructor(readonly dimension: number) {}

  async embed(texts: readonly string[]): Promise<number[][]> {
    return texts.map((text) => this.embedOne(text));
  }

  private embedOne(text: string): number[] {
    const vector = new Float64Array(this.dimension);
    for (const [feature, count] of features(text)) {
      const hash = fnv1a(feature, 0);
      const sign = (fnv1a(feature, 0x9e3779b9) & 1) === 0 ? 1 : -1;
      vector[hash % this.dimension] = (vector[hash % this.dimension] as number) + sign * (1 + Math.log(count));
    }
    let norm = 0;
    for (const x of vector) norm += x * x;
    norm = Math.sqrt(norm);
    return Array.from(vector, (x) => (norm === 0 ? 0 : x / norm));
  }
}
