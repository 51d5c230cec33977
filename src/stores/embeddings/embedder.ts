/** Turns texts into vectors for the vector index. */
export interface Embedder {
  /** Dimension of every vector it returns (EMBEDDING_DIM). */
  readonly dimension: number;
  /** Short name for logs and metrics (`local-hash`, `openai:<model>`). */
  readonly name: string;
  /**
   * One vector per text, in input order, each `dimension` finite numbers; an empty list
   * gives an empty list. A text gets the same vector wherever it stands in the list and
   * whichever call asks (as far as the model is deterministic: the built-in one is). Texts
   * are not empty (an endpoint may refuse one). Fails only with UNAVAILABLE, whatever failed:
   * the model unreachable, refusing, too slow, or answering anything but the vectors asked for.
   */
  embed(texts: readonly string[]): Promise<number[][]>;
  /**
   * True for the built-in embedder, which is pure computation: ingestion runs it on the
   * parsing worker (same vectors) instead of on the event loop.
   */
  readonly inProcess?: boolean;
}
