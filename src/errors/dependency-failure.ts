/**
 * Recognises failures of a dependency (PostgreSQL, Redis, Neo4j, S3, Milvus) that are not
 * the request's fault and may succeed when retried: lost or refused connections, timeouts,
 * a server shutting down or out of connections, serialization conflicts. The wire maps
 * them to UNAVAILABLE (PROTOCOL section 2) instead of INTERNAL.
 */
export function isDependencyFailure(error: unknown, depth = 0): boolean {
  if (depth > 5 || error === null || typeof error !== 'object') return false;
  const e = error as {
    name?: unknown;
    code?: unknown;
    details?: unknown;
    message?: unknown;
    retriable?: unknown;
    errors?: unknown;
    cause?: unknown;
  };
  if (
    typeof e.code === 'string' &&
    (NETWORK_CODES.has(e.code) || RETRYABLE_SQLSTATE.test(e.code) || NEO4J_CODES.has(e.code))
  )
    return true;
  if (typeof e.code === 'number' && typeof e.details === 'string' && GRPC_CODES.has(e.code)) return true;
  if (typeof e.name === 'string' && FAILURE_NAMES.has(e.name)) return true;
  if (e.retriable === true) return true;
  if (typeof e.message === 'string' && FAILURE_MESSAGES.some((pattern) => pattern.test(e.message as string)))
    return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => isDependencyFailure(inner, depth + 1))) return true;
  return isDependencyFailure(e.cause, depth + 1);
}

/** Node socket errors. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_STREAM_DESTROYED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * PostgreSQL SQLSTATEs worth a retry: class 08 (connection exception), 53 (insufficient
 * resources: too many connections, out of memory), 57P01-57P03 (shutdown, cannot connect
 * now), 57014 (statement_timeout), 55P03 (lock_timeout), 25P03 (idle in transaction too
 * long), 40001 and 40P01 (serialization failure, deadlock).
 */
const RETRYABLE_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[1-3]|57014|55P03|25P03|40001|40P01)$/;

/** gRPC status codes (Milvus's client) of a server that is unreachable or did not answer in time: UNAVAILABLE, DEADLINE_EXCEEDED. */
const GRPC_CODES = new Set([14, 4]);

/** Neo4j driver codes of a lost or unreachable server. */
const NEO4J_CODES = new Set(['ServiceUnavailable', 'SessionExpired']);

/** Error classes of ioredis and of our own timeouts. */
const FAILURE_NAMES = new Set(['MaxRetriesPerRequestError', 'DependencyTimeoutError']);

/** Messages of pg, ioredis and the Redis server that mean the connection is not usable now. */
const FAILURE_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect/,
  /is not queryable/,
  /^Connection is closed/,
  /^Stream isn't writeable/,
  /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY) /,
  /^Reached the max retries per request limit/,
  /^Command timed out/,
  /^Query read timeout/,
];
