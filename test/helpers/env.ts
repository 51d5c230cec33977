import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../../src/config/config.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/logger.js';

/** The URLs of the real services that `npm test` started (test/infra/services.sh). */
export const SERVICE_VARIABLES = [
  'DATABASE_URL',
  'REDIS_URL',
  'MILVUS_ADDRESS',
  'NEO4J_URI',
  'NEO4J_USER',
  'NEO4J_PASSWORD',
  'S3_ENDPOINT',
  'S3_ACCESS_KEY',
  'S3_SECRET_KEY',
  'S3_BUCKET',
] as const;

/**
 * Returns the service variables, failing loudly (never skipping) when the suite was started
 * without the real services: run it through `npm test`.
 */
export function serviceEnv(): Record<(typeof SERVICE_VARIABLES)[number], string> {
  const missing = SERVICE_VARIABLES.filter((name) => !process.env[name]);
  if (missing.length > 0) {
    throw new Error(
      `the real services are not configured (${missing.join(', ')} unset): run the suite with 'npm test'`,
    );
  }
  return Object.fromEntries(SERVICE_VARIABLES.map((name) => [name, process.env[name] as string])) as Record<
    (typeof SERVICE_VARIABLES)[number],
    string
  >;
}

/**
 * What every Node process a test starts from dist/ (the CLI, a node) has besides its own
 * variables: PATH, HOME, and one compile cache for all of them. Loading the modules of the
 * stores takes most of a CLI run's CPU (about 0.8 s of 1.5 s); with the cache, a fifth less.
 */
export function childProcessEnv(): Record<string, string> {
  return {
    PATH: process.env['PATH'] ?? '',
    HOME: process.env['HOME'] ?? '/root',
    NODE_COMPILE_CACHE: path.join(tmpdir(), 'voicehelper-test-compile-cache'),
  };
}

/**
 * A fresh temporary directory, traversable by other users: the embedded PostgreSQL runs as
 * the `postgres` OS user when the tests run as root.
 */
export function tempDir(prefix = 'vh-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** A short unique name for isolating test data in shared stores. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
}

/**
 * The Milvus collection the suite's deployments of one embedding dimension share (the
 * global setup creates those of SUITE_DIMENSIONS): making a collection costs seconds, and
 * tests isolate their vectors by owner anyway. A deployment whose reconciler runs, or that
 * counts what a collection holds, takes its own.
 */
export function suiteCollection(dimension: string): string {
  return `${process.env['TEST_MILVUS_COLLECTION'] ?? 'suite_chunks'}_d${dimension}`;
}

/** The embedding dimensions the suite's deployments use (8 by default). */
export const SUITE_DIMENSIONS = ['8', '64', '256'];

/** Rate limits high enough never to interfere with tests that are not about them. */
export const LIFTED_LIMITS = {
  RATE_LIMIT_MESSAGE_SEND: '1000000/1s',
  RATE_LIMIT_MESSAGE_DELTA: '1000000/1s',
  RATE_LIMIT_AUDIO_CHUNK: '1000000/1s',
  RATE_LIMIT_RETRIEVE: '1000000/1s',
  RATE_LIMIT_CONNECTIONS: '1000000/1s',
  RATE_LIMIT_LOGIN: '1000000/1s',
  RATE_LIMIT_LOGIN_IP: '1000000/1s',
  RATE_LIMIT_LOGIN_ACCOUNT: '1000000/1s',
  RATE_LIMIT_REGISTER: '1000000/1s',
  RATE_LIMIT_REFRESH: '1000000/1s',
  RATE_LIMIT_HTTP: '1000000/1s',
  RATE_LIMIT_SYS_PING: '1000000/1s',
  RATE_LIMIT_SESSION_CREATE: '1000000/1s',
  RATE_LIMIT_SESSION_JOIN: '1000000/1s',
  RATE_LIMIT_SESSION_LEAVE: '1000000/1s',
  RATE_LIMIT_SESSION_LIST: '1000000/1s',
  RATE_LIMIT_SESSION_UPDATE: '1000000/1s',
  RATE_LIMIT_SESSION_DELETE: '1000000/1s',
  RATE_LIMIT_TURN_INTERRUPT: '1000000/1s',
  RATE_LIMIT_HISTORY_GET: '1000000/1s',
  RATE_LIMIT_AUDIO_START: '1000000/1s',
  RATE_LIMIT_AUDIO_END: '1000000/1s',
  RATE_LIMIT_AUDIO_ABORT: '1000000/1s',
  RATE_LIMIT_AUDIO_URL: '1000000/1s',
  // Tests that are not about it send bursts larger than a real client's.
  SOCKET_MAX_IN_FLIGHT: '10000',
};

export const TEST_JWT_SECRET = 'test-only-jwt-secret-0123456789abcdef';

/** Configuration of a cluster node on the real services, listening on an ephemeral port. */
export function clusterConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(clusterEnv(overrides));
}

/**
 * The variables behind `clusterConfig` (a CLI started as a process gets the same). When the
 * suite runs with REDIS_CLUSTER_NODES (the Redis Cluster run of `npm test`), nodes use the
 * cluster instead of REDIS_URL.
 */
export function clusterEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const { REDIS_URL, ...services } = serviceEnv();
  const clusterNodes = process.env['REDIS_CLUSTER_NODES'];
  return {
    ...services,
    // A test's own Redis (overrides.REDIS_URL) replaces the shared one, cluster or not.
    ...(overrides['REDIS_URL'] !== undefined || clusterNodes === undefined || clusterNodes === ''
      ? { REDIS_URL }
      : { REDIS_CLUSTER_NODES: clusterNodes }),
    PORT: '0',
    HOST: '127.0.0.1',
    NODE_ID: uniqueName('node'),
    JWT_SECRET: TEST_JWT_SECRET,
    DATA_DIR: tempDir(),
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'silent',
    MILVUS_COLLECTION: suiteCollection(overrides['EMBEDDING_DIM'] ?? '8'),
    INGEST_QUEUE: uniqueName('ingest'),
    // Each deployment of the suite keeps to its own keys and channels in the shared Redis:
    // nodes sweep every open stream they can see, and a node of another test's cluster (on
    // another database, or with other timers) must not see this one's.
    REDIS_NAMESPACE: uniqueName('ns'),
    EMBEDDING_DIM: '8',
    // Lifted: every test connects from 127.0.0.1 as few users; the limit tests set their own.
    ...LIFTED_LIMITS,
    // The reconciler repairs a whole database and bucket, which the suite's clusters share:
    // only the test of it runs one, on a database and bucket of its own.
    RECONCILE_INTERVAL_MS: '86400000',
    ...overrides,
  };
}

/** A logger that prints only when TEST_LOG_LEVEL is set. */
export function testLogger(): Logger {
  return createLogger({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent', nodeId: 'test' });
}
