import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { envSchema } from '../../src/config/schema.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';

// The whole Config that a few environments give, pinned in the snapshot beside this file:
// however loadConfig places variables, the same environment gives the same Config. A new
// variable changes the snapshot on purpose; read the difference, then run this file with -u.

const STRONG_TOKEN = 'pinned-metrics-token-4f7c1e9a0b3d5e6f7a8b9c0d';

/** The store variables of a full cluster: every store external, Redis as a cluster. */
const CLUSTER: Record<string, string> = {
  NODE_ID: 'node-a',
  HOST: '10.0.0.5',
  DATA_DIR: '/var/lib/voicehelper',
  PUBLIC_URL: 'https://voice.example.com/',
  JWT_SECRET: TEST_JWT_SECRET,
  METRICS_TOKEN: STRONG_TOKEN,
  DATABASE_URL: 'postgres://vh:pw-3f9a@db:5432/vh',
  REDIS_CLUSTER_NODES: 'redis://:pw-3f9a@r1:7000, redis://:pw-3f9a@r2:7001,',
  LOCK_REDIS_URLS: 'redis://l1:6379,redis://l2:6379,redis://l3:6379',
  REDIS_NAMESPACE: 'staging_2',
  MILVUS_ADDRESS: 'https://milvus:19530',
  MILVUS_TOKEN: 'vh:pw-3f9a',
  MILVUS_COLLECTION: 'chunks_v2',
  NEO4J_URI: 'neo4j+s://graph:7687',
  NEO4J_USER: 'vh',
  NEO4J_PASSWORD: 'pw-3f9a',
  NEO4J_RETRY_MS: '15000',
  S3_ENDPOINT: 'https://s3.internal:9443',
  S3_PUBLIC_ENDPOINT: 'https://files.example.com',
  S3_ACCESS_KEY: 'access-3f9a',
  S3_SECRET_KEY: 'secret-3f9a',
  S3_BUCKET: 'vh-files',
  S3_REGION: 'eu-west-1',
  EMBEDDINGS_URL: 'http://embed:8080/v1',
  EMBEDDINGS_MODEL: 'bge-m3',
  EMBEDDINGS_API_KEY: 'key-3f9a',
  LOG_LEVEL: 'debug',
  TRUST_PROXY: '10.0.0.1, 10.1.0.0/16',
  CORS_ORIGINS: 'https://app.example.com/,https://admin.example.com',
  BACKUP_TARGET: 's3://backups/vh',
  BACKUP_ENCRYPTION_KEY: 'backup-passphrase-3f9a',
  BACKUP_SCHEDULE: '02:30',
  GRAPH_EXTRACTOR: 'none',
  GRAPH_GDS: 'off',
  RATE_LIMIT_FAIL_MODE: 'closed',
  MIGRATE_ON_START: 'false',
  INGEST_QUEUE: 'vh-ingest-2',
  READINESS_OPTIONAL: 'graph, objects',
  DEFAULT_AGENT: 'concierge',
  ASSISTANT: 'on',
  ASSISTANT_PYTHON: '/opt/voicehelper-assistant/bin/python',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
  OTEL_SERVICE_NAME: 'voicehelper-staging',
  OTEL_TRACES_SAMPLER_ARG: '0.25',
};

/**
 * A value of its own for every other variable with a default: each number and each rate rule moved off its
 * default by a different amount, so that two variables placed in each other's spot differ.
 */
function distinctValues(set: Record<string, string>): Record<string, string> {
  const values: Record<string, string> = { ...set };
  let step = 1;
  for (const [name, schema] of Object.entries(envSchema)) {
    if (name in values) continue;
    const fallback: unknown = schema.safeParse(undefined).data;
    // Unset and without a default: left unset (REDIS_URL, in a Redis Cluster).
    if (fallback === undefined) continue;
    const candidates: string[] = [];
    if (typeof fallback === 'number') candidates.push(...[fallback + step, fallback - step, fallback + 1].map(String));
    else if (typeof fallback === 'object' && fallback !== null && 'limit' in fallback && 'windowMs' in fallback)
      candidates.push(`${Number(fallback.limit) + step}/${Number(fallback.windowMs) + step}`);
    const value = candidates.find((candidate) => schema.safeParse(candidate).success);
    if (value === undefined) throw new Error(`no distinct value for ${name}: give it one in CLUSTER`);
    values[name] = value;
    step += 1;
  }
  return values;
}

/** The Config as plain data (keys set to undefined kept), with what depends on the machine (host name, pid, directory) named. */
function pinned(env: Record<string, string>): unknown {
  const config = loadConfig(env);
  const cwd = process.cwd();
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) => {
      if (value === undefined) return '<undefined>';
      if (value instanceof Set) return { set: [...value] };
      if (key === 'nodeId' && env['NODE_ID'] === undefined) return '<hostname>-<pid>';
      if (typeof value === 'string' && value.startsWith(cwd)) return `<cwd>${value.slice(cwd.length)}`;
      return value;
    }),
  );
}

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('loadConfig gives the pinned Config', () => {
  it('with nothing set (the embedded default)', () => {
    expect(pinned({})).toMatchSnapshot();
  });

  it('for a full external cluster with every variable set', () => {
    expect(pinned(distinctValues(CLUSTER))).toMatchSnapshot();
  });

  it('for edge values: one Redis, plain-HTTP S3 on an IPv6 address and default port, empties and zeros', () => {
    const config = pinned({
      PORT: '0',
      DATABASE_URL: 'postgresql://db/vh',
      REDIS_URL: 'rediss://:pw-3f9a@redis:6380/2',
      JWT_SECRET: TEST_JWT_SECRET,
      S3_ENDPOINT: 'http://[::1]',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
      NEO4J_URI: 'bolt://neo4j:7687',
      TRUST_PROXY: 'false',
      CORS_ORIGINS: '*',
      READINESS_OPTIONAL: '',
      MIGRATE_ON_START: 'no',
      GROUP_COMMIT_MAX_WAIT_MS: '0',
      PARTITION_MONTHS_AHEAD: '0',
      UPLOAD_MIN_BYTES_PER_SECOND: '0',
      RATE_LIMIT_LOGIN: '5/1h',
      RATE_LIMIT_HTTP: ' 100/250 ',
      LOG_LEVEL: '  ',
      EMBEDDING_DIM: '',
    });
    expect(config).toMatchSnapshot();
  });

  it('with only Milvus set, the rest embedded', () => {
    expect(pinned({ MILVUS_ADDRESS: '127.0.0.1:19530', DATA_DIR: 'relative/dir' })).toMatchSnapshot();
  });

  it('refusing a bad environment with the same lines, in the same order', () => {
    expect(
      problemsOf({
        REDIS_URL: 'redis://:secret@r:6379',
        REDIS_CLUSTER_NODES: 'redis://a:7000',
        LOCK_REDIS_URLS: 'redis://l:6379',
        BACKUP_SCHEDULE: '01:00',
        S3_ENDPOINT: 'http://minio:9000',
        METRICS_TOKEN: 'x'.repeat(40),
      }),
    ).toMatchSnapshot();
    expect(
      problemsOf({ LOCK_REDIS_URLS: 'redis://l:6379', S3_ENDPOINT: 'http://m:9000', S3_SECRET_KEY: 's' }),
    ).toMatchSnapshot();
  });
});
