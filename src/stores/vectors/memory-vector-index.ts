import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { VectorMatrix } from './simd-dot.js';
import {
  assertEmbedding,
  assertVectorId,
  type VectorHit,
  type VectorIndex,
  type VectorRecord,
  type VectorSearchOptions,
} from './vector-index.js';

type Meta = Omit<VectorRecord, 'embedding'>;

/** Options of the in-process index. */
export interface MemoryVectorIndexOptions {
  /** Directory of the snapshot file; undefined keeps the index in memory only. */
  dir: string | undefined;
  collection: string;
  dimension: number;
}

/**
 * Exact COSINE search in process, for the single-node embedded default. Vectors are kept
 * normalised, row by row in WebAssembly memory (VectorMatrix), so a search is one pass of
 * SIMD dot products over memory in order. The index is saved to `<dir>/<collection>.json` (written
 * to a temporary file and renamed) after each change.
 */
export class MemoryVectorIndex implements VectorIndex {
  readonly dimension: number;
  private matrix: VectorMatrix;
  private metas: Meta[] = [];
  private readonly rows = new Map<string, number>();
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: MemoryVectorIndexOptions) {
    this.dimension = options.dimension;
    this.matrix = new VectorMatrix(options.dimension);
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
    for (const id of options.documentIds ?? []) assertVectorId(id, 'documentId');
    const documents = options.documentIds === undefined ? undefined : new Set(options.documentIds);
    const matrix = this.matrix;
    matrix.setQuery(normalise(embedding));
    // Keep only the best topK while scanning (best first): no object per chunk, no sort.
    const best: { score: number; row: number }[] = [];
    for (let row = 0; row < this.metas.length; row++) {
      const meta = this.metas[row] as Meta;
      if (meta.ownerId !== options.ownerId) continue;
      if (documents !== undefined && !documents.has(meta.documentId)) continue;
      const dot = matrix.dot(row);
      if (best.length === options.topK && dot <= (best[best.length - 1] as { score: number }).score) continue;
      let at = best.length;
      while (at > 0 && (best[at - 1] as { score: number }).score < dot) at--;
      best.splice(at, 0, { score: dot, row });
      if (best.length > options.topK) best.pop();
    }
    return best.map(({ score, row }) => {
      const meta = this.metas[row] as Meta;
      return {
        chunkId: meta.chunkId,
        documentId: meta.documentId,
        content: meta.content,
        score,
        metadata: meta.metadata ?? {},
      };
    });
  }

  async countByDocument(documentId: string): Promise<number> {
    assertVectorId(documentId, 'documentId');
    return this.metas.filter((m) => m.documentId === documentId).length;
  }

  async deleteByDocument(documentId: string): Promise<void> {
    assertVectorId(documentId, 'documentId');
    for (let row = this.metas.length - 1; row >= 0; row--)
      if ((this.metas[row] as Meta).documentId === documentId) this.removeRow(row);
    await this.save();
  }

  /** Removes these chunks (those not in the index are ignored). */
  async deleteChunks(chunkIds: readonly string[]): Promise<void> {
    for (const chunkId of chunkIds) {
      const row = this.rows.get(chunkId);
      if (row !== undefined) this.removeRow(row);
    }
    await this.save();
  }

  /** Every record held, embeddings normalised. */
  records(): VectorRecord[] {
    return this.metas.map((meta, row) => ({ ...meta, embedding: Array.from(this.matrix.row(row)) }));
  }

  /** Rows held. */
  get size(): number {
    return this.metas.length;
  }

  async drop(): Promise<void> {
    this.metas = [];
    this.rows.clear();
    this.matrix = new VectorMatrix(this.dimension);
    const file = this.file;
    if (file !== undefined) await rm(file, { force: true });
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    await this.saving;
  }

  private put(record: VectorRecord): void {
    const { embedding, ...meta } = record;
    let row = this.rows.get(record.chunkId);
    if (row === undefined) {
      row = this.metas.length;
      this.metas.push(meta);
      this.rows.set(record.chunkId, row);
    } else {
      this.metas[row] = meta;
    }
    this.matrix.set(row, normalise(embedding));
  }

  /** Removes a row by moving the last row into its place. */
  private removeRow(row: number): void {
    const last = this.metas.length - 1;
    const removed = this.metas[row] as Meta;
    this.rows.delete(removed.chunkId);
    if (row !== last) {
      const moved = this.metas[last] as Meta;
      this.metas[row] = moved;
      this.rows.set(moved.chunkId, row);
      this.matrix.copy(last, row);
    }
    this.metas.pop();
  }

  /** Serialises saves so that two writers never interleave on the snapshot file. */
  private save(): Promise<void> {
    const file = this.file;
    if (file === undefined) return Promise.resolve();
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        const records = this.metas.map((meta, row) => ({
          ...meta,
          embedding: Array.from(this.matrix.row(row)),
        }));
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
