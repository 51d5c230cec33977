/**
 * A small key-value cache with expiry (Redis, or in process on the embedded default). Never
 * the source of truth: every value can be rebuilt from PostgreSQL. Every node sees the same
 * entries (in process: the one node).
 */
export interface Cache {
  /**
   * The value, or undefined when missing, expired or removed. A cache may also drop an entry
   * early (the in-process one bounds its size): a miss never proves there is no value.
   */
  get(key: string): Promise<string | undefined>;
  /**
   * Stores a value (any string, the empty one included) for `ttlSeconds`, a whole number of
   * at least 1 (what Redis accepts); replaces both the value and the expiry a key had.
   */
  set(key: string, value: string, ttlSeconds: number): Promise<void>;
  /**
   * Stores a value for `ttlSeconds` only if the key holds none; true when this call stored
   * it. Atomic on Redis, so that one of several nodes racing for a key wins. (The in-process
   * cache may have dropped an entry early, as for `get`: a claim there holds on one node only.)
   */
  setIfAbsent(key: string, value: string, ttlSeconds: number): Promise<boolean>;
  /**
   * Removes keys; missing keys, and none at all, are not an error. Not atomic over keys: when
   * it fails, some of them may be gone.
   */
  del(...keys: string[]): Promise<void>;
}
