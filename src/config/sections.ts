import path from 'node:path';
import type { Config, S3Address } from './config.js';
import type { Unplaced, ValueAt } from './paths.js';
import type { ParsedEnv, PlacedPath, SectionVariable } from './schema.js';

/** What the variables' rows placed, by path (`placed['http.port']`). */
export type Placed = { readonly [P in PlacedPath]: ValueAt<Config, P> };

/**
 * Every part of Config that no row places, by path: the compiler makes `buildSections`
 * return each of them, and nothing a row already places.
 */
export type Sections = { [P in Unplaced<Config, PlacedPath>]: ValueAt<Config, P> };

/** Host, port and scheme of an S3 endpoint URL. */
function s3Address(endpoint: string): S3Address {
  const url = new URL(endpoint);
  const useSSL = url.protocol === 'https:';
  return {
    endPoint: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? (useSSL ? 443 : 80) : Number(url.port),
    useSSL,
  };
}

/**
 * The parts of Config that are not one variable's value as parsed: those chosen by a mode
 * (each store: the real service when its variable is set, else the embedded one) and those
 * made of several variables or of a constant. It sees only the variables no row places,
 * and what rows placed through `placed`. Runs once the environment passed the rules of
 * `loadConfig`, which is why a missing S3 key may read as empty here.
 */
export function buildSections(e: Pick<ParsedEnv, SectionVariable>, placed: Placed): Sections {
  const dataDir = path.resolve(e.DATA_DIR);
  const redisUrl = e.REDIS_URL ?? e.REDIS_CLUSTER_NODES?.[0];

  const postgres: Config['postgres'] =
    e.DATABASE_URL !== undefined
      ? { mode: 'external', url: e.DATABASE_URL }
      : { mode: 'embedded', dir: path.join(dataDir, 'postgres'), port: e.EMBEDDED_PG_PORT };
  const redis: Config['redis'] =
    redisUrl !== undefined
      ? {
          mode: 'external',
          url: redisUrl,
          clusterNodes: e.REDIS_CLUSTER_NODES ?? [],
          lockUrls: e.LOCK_REDIS_URLS ?? [],
          keyPrefix: e.REDIS_NAMESPACE === undefined ? '' : `${e.REDIS_NAMESPACE}:`,
        }
      : { mode: 'memory' };
  const vector: Config['vector'] =
    e.MILVUS_ADDRESS !== undefined
      ? {
          mode: 'milvus',
          address: e.MILVUS_ADDRESS,
          token: e.MILVUS_TOKEN,
          collection: e.MILVUS_COLLECTION,
          searchEf: e.MILVUS_SEARCH_EF,
        }
      : { mode: 'postgres', collection: e.MILVUS_COLLECTION, legacyDir: path.join(dataDir, 'vectors') };
  const graph: Config['graph'] =
    e.NEO4J_URI !== undefined
      ? { mode: 'neo4j', uri: e.NEO4J_URI, user: e.NEO4J_USER, password: e.NEO4J_PASSWORD, retryMs: e.NEO4J_RETRY_MS }
      : { mode: 'postgres' };
  const objects: Config['objects'] =
    e.S3_ENDPOINT !== undefined
      ? {
          mode: 's3',
          ...s3Address(e.S3_ENDPOINT),
          ...(e.S3_PUBLIC_ENDPOINT === undefined ? {} : { publicEndpoint: s3Address(e.S3_PUBLIC_ENDPOINT) }),
          accessKey: e.S3_ACCESS_KEY ?? '',
          secretKey: e.S3_SECRET_KEY ?? '',
          bucket: e.S3_BUCKET,
          region: e.S3_REGION,
          idleTimeoutMs: e.S3_TIMEOUT_MS,
        }
      : { mode: 'fs', dir: path.join(dataDir, 'objects'), bucket: e.S3_BUCKET };

  const embeddedDefault =
    postgres.mode === 'embedded' &&
    redis.mode === 'memory' &&
    vector.mode === 'postgres' &&
    graph.mode === 'postgres' &&
    objects.mode === 'fs';
  const defaultAgent =
    e.DEFAULT_AGENT === 'none' ? undefined : (e.DEFAULT_AGENT ?? (embeddedDefault ? 'assistant' : undefined));
  // The assistant serves the agent sessions get by default, or `assistant` when there is none.
  const agent = defaultAgent ?? 'assistant';
  const assistant: Config['assistant'] =
    (e.ASSISTANT ?? (embeddedDefault ? 'on' : 'off')) === 'off'
      ? { mode: 'off' }
      : e.ASSISTANT_PYTHON === undefined
        ? { mode: 'unavailable', agent }
        : { mode: 'on', python: e.ASSISTANT_PYTHON, agent };
  return {
    publicUrl: (e.PUBLIC_URL ?? `http://127.0.0.1:${placed['http.port']}`).replace(/\/$/, ''),
    dataDir,
    embeddedDefault,
    postgres,
    redis,
    vector,
    graph,
    objects,
    // Not a variable: what PROTOCOL section 4 fixes.
    'messages.maxMetadataBytes': 16 * 1024,
    readinessOptional: new Set(e.READINESS_OPTIONAL),
    // On the embedded default, the reference assistant answers every new session.
    'agents.defaultAgent': defaultAgent,
    assistant,
  };
}
