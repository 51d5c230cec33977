/** Turns texts into vectors for the vector index. */
export interface Embedder {
  /** Dimension of every vector it returns. */
  readonly dimension: number;
  /** Short name for logs and metrics (`local-hash`, `openai:<model>`). */
  readonly name: string;
  /** One vector per text, in order. */
  embed(texts: readonly string[]): Promise<number[][]>;
  /**
   * True for the built-in embedder, which is pure computation: ingestion runs it on the
   * parsing worker (same vectors) instead of on the event loop.
   */
  readonly inProcess?: boolean;
}
