import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  assertEmbedding,
  assertVectorId,
  type VectorHit,
  type VectorIndex,
  type VectorRecord,
  type VectorSearchOptions,
} from './vector-index.js';

interface Stored {
  record: Omit<VectorRecord, 'embedding'>;
  unit: Float32Array;
}

/** Options of the in-process index. */
export interface MemoryVectorIndexOptions {
  /** Directory of the snapshot file; undefined keeps the index in memory only. */
  dir: string | undefined;
  collection: string;
  dimension: number;
}

/**
 * Exact COSINE search in process, for the single-node embedded default. Vectors are kept
 * normalised so a search is one dot product per chunk. The index is saved to
 * `<dir>/<collection>.json` (written to a temporary file and renamed) after each change.
 */
export class MemoryVectorIndex implements VectorIndex {
  readonly dimension: number;
  private readonly records = new Map<string, Stored>();
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: MemoryVectorIndexOptions) {
    this.dimension = options.dimension;
  }

  private get file(): string | undefined {
    return this.options.dir === undefined ? undefined : path.join(this.options.dir, `${this.options.collection}.json`);
  }

  async init(): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    await mkdir(path.dirname(file), { recursive: true });
    let raw: string;
    try {
      raw = await readFile(file, 'utf8');
    } catch {
      return;
    }
    const saved = JSON.parse(raw) as { dimension: number; records: VectorRecord[] };
    if (saved.dimension !== this.dimension) {
      throw new Error(
        `the vector index at ${file} has dimension ${saved.dimension} but EMBEDDING_DIM is ${this.dimension}`,
      );
    }
    for (const record of saved.records) this.put(record);
  }

  async insert(records: readonly VectorRecord[]): Promise<void> {
    for (const record of records) {
      assertVectorId(record.chunkId, 'chunkId');
      assertVectorId(record.documentId, 'documentId');
      assertVectorId(record.ownerId, 'ownerId');
      assertEmbedding(record.embedding, this.dimension);
    }
    for (const record of records) this.put(record);
    await this.save();
  }

  async search(embedding: readonly number[], options: VectorSearchOptions): Promise<VectorHit[]> {
    assertEmbedding(embedding, this.dimension);
    assertVectorId(options.ownerId, 'ownerId');
    options.documentIds?.forEach((id) => assertVectorId(id, 'documentId'));
    const documents = options.documentIds === undefined ? undefined : new Set(options.documentIds);
    const query = normalise(embedding);
    // Keep only the best topK while scanning (sorted, best first): no object per chunk, no
    // full sort, so a search over 100k chunks stays a single pass of dot products.
    const best: { score: number; stored: Stored }[] = [];
    for (const stored of this.records.values()) {
      const { record, unit } = stored;
      if (record.ownerId !== options.ownerId) continue;
      if (documents !== undefined && !documents.has(record.documentId)) continue;
      let dot = 0;
      for (let i = 0; i < unit.length; i++) dot += (unit[i] as number) * (query[i] as number);
      if (best.length === options.topK && dot <= (best[best.length - 1] as { score: number }).score) continue;
      let at = best.length;
      while (at > 0 && (best[at - 1] as { score: number }).score < dot) at--;
      best.splice(at, 0, { score: dot, stored });
      if (best.length > options.topK) best.pop();
    }
    return best.map(({ score, stored: { record } }) => ({
      chunkId: record.chunkId,
      documentId: record.documentId,
      content: record.content,
      score,
      metadata: record.metadata ?? {},
    }));
  }

  async countByDocument(documentId: string): Promise<number> {
    assertVectorId(documentId, 'documentId');
    let count = 0;
    for (const { record } of this.records.values()) if (record.documentId === documentId) count++;
    return count;
  }

  async deleteByDocument(documentId: string): Promise<void> {
    assertVectorId(documentId, 'documentId');
    for (const [id, { record }] of this.records) if (record.documentId === documentId) this.records.delete(id);
    await this.save();
  }

  async drop(): Promise<void> {
    this.records.clear();
    const file = this.file;
    if (file !== undefined) await rm(file, { force: true });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.saving;
  }

  private put(record: VectorRecord): void {
    const { embedding, ...rest } = record;
    this.records.set(record.chunkId, { record: rest, unit: normalise(embedding) });
  }

  /** Serialises saves so that two writers never interleave on the snapshot file. */
  private save(): Promise<void> {
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    this.saving = this.saving.catch(() => undefined).then(async () => {
      const records = [...this.records.values()].map(({ record, unit }) => ({ ...record, embedding: Array.from(unit) }));
      const tmp = `${file}.tmp`;
      await writeFile(tmp, JSON.stringify({ dimension: this.dimension, records }));
      await rename(tmp, file);
    });
    return this.saving;
  }
}

function normalise(vector: readonly number[]): Float32Array {
  let norm = 0;
  for (const x of vector) norm += x * x;
  norm = Math.sqrt(norm) || 1;
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = (vector[i] as number) / norm;
  return out;
}
