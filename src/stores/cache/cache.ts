/**
 * A small key-value cache with expiry (Redis, or in process on the embedded default). Never
 * the source of truth: every value can be rebuilt from PostgreSQL.
 */
export interface Cache {
  /** The value, or undefined when missing or expired. */
  get(key: string): Promise<string | undefined>;
  /** Stores a value for `ttlSeconds`. */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /** Removes keys; missing keys are not an error. */
  del(...keys: string[]): Promise<void>;
}
