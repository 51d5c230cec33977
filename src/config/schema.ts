import { hostname } from 'node:os';
import proxyAddr from '@fastify/proxy-addr';
import { z } from 'zod';
import { type Config, dependencyNames } from './config.js';
import type { PathTo } from './paths.js';

/** Variables whose values must never be echoed in an error or a log line. */
export const SECRET_VARIABLES = new Set([
  'JWT_SECRET',
  'DATABASE_URL',
  'REDIS_URL',
  'MILVUS_TOKEN',
  'NEO4J_PASSWORD',
  'S3_SECRET_KEY',
  'S3_ACCESS_KEY',
  'EMBEDDINGS_API_KEY',
  'BACKUP_ENCRYPTION_KEY',
  'LOCK_REDIS_URLS',
  'REDIS_CLUSTER_NODES',
  'METRICS_TOKEN',
]);

const emptyToUndefined = (value: unknown): unknown =>
  typeof value === 'string' && value.trim() === '' ? undefined : value;

const optionalString = z.preprocess(emptyToUndefined, z.string().optional());

const port = (fallback: number) =>
  z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected an integer between 0 and 65535' })
      .int('expected an integer between 0 and 65535')
      .min(0, 'expected an integer between 0 and 65535')
      .max(65535, 'expected an integer between 0 and 65535')
      .default(fallback),
  );

/** Comma-separated redis:// or rediss:// URLs. */
const redisUrlList = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .transform((value) =>
      value
        .split(',')
        .map((url) => url.trim())
        .filter((url) => url !== ''),
    )
    .refine(
      (urls) =>
        urls.length > 0 &&
        urls.every((url) => {
          try {
            const parsed = new URL(url);
            return (parsed.protocol === 'redis:' || parsed.protocol === 'rediss:') && parsed.hostname !== '';
          } catch {
            return false;
          }
        }),
      { message: 'expected comma-separated URLs like redis://host:6379' },
    )
    .optional(),
);

const positiveInt = (fallback: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a positive integer' })
      .int('expected a positive integer')
      .min(1, 'expected a positive integer')
      .max(max, `expected at most ${max}`)
      .default(fallback),
  );

const nonNegativeInt = (fallback: number, max: number) =>
  z.preprocess(
    emptyToUndefined,
    z.coerce
      .number({ error: 'expected a non-negative integer' })
      .int('expected a non-negative integer')
      .min(0, 'expected a non-negative integer')
      .max(max, `expected at most ${max}`)
      .default(fallback),
  );

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `<count>/<window>` such as `20/10s` or `200/10000`, parsed to `{ limit, windowMs }`. */
const limitRule = (fallback: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .default(fallback)
      .transform((value, ctx) => {
        const match = /^(\d{1,9})\/(\d{1,9})(ms|s|m|h)?$/.exec(value.trim());
        const windowMs = match === null ? NaN : Number(match[2]) * (UNIT_MS[match[3] ?? 'ms'] as number);
        if (match === null || Number(match[1]) < 1 || !(windowMs >= 1 && windowMs <= 86_400_000)) {
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            message: 'expected <count>/<window>, like 20/10s (window 1 ms to 24 h)',
          });
          return z.NEVER;
        }
        return { limit: Number(match[1]), windowMs };
      }),
  );

const bool = (fallback: boolean) =>
  z.preprocess(
    emptyToUndefined,
    z
      .enum(['true', 'false', '1', '0', 'yes', 'no'], {
        error: 'expected true or false',
      })
      .transform((v) => v === 'true' || v === '1' || v === 'yes')
      .default(fallback),
  );

const urlWithScheme = (schemes: readonly string[], example: string) =>
  z.preprocess(
    emptyToUndefined,
    z
      .string()
      .refine(
        (value) => {
          try {
            const url = new URL(value);
            return schemes.includes(url.protocol.replace(/:$/, '')) && url.hostname !== '';
          } catch {
            return false;
          }
        },
        { message: `expected a URL like ${example}` },
      )
      .optional(),
  );

/** A `host:port` address, optionally with an http(s) scheme, as the Milvus SDK accepts. */
const milvusAddress = z.preprocess(
  emptyToUndefined,
  z
    .string()
    .regex(/^(https?:\/\/)?[A-Za-z0-9.\-_[\]:]+:\d{1,5}$/, 'expected host:port, like 127.0.0.1:19530')
    .optional(),
);

/**
 * A variable's row besides its schema (which holds its default): where its value lands in
 * Config, and what docs/configuration.md says of it.
 */
export interface VariableRow {
  /**
   * The dotted path in Config that takes the variable's value as parsed (`http.port`),
   * checked by the compiler. Unset: a section of src/config/sections.ts reads it (the parts
   * chosen by a mode, and values made of several variables).
   */
  at?: string;
  /** What it sets. */
  meaning?: string;
  /** What a variable without a default means when unset (`embedded PostgreSQL`). */
  unset?: string;
  /** How to show a default computed at start (`<hostname>-<pid>`). */
  shown?: string;
  /** Documented in the row of this other variable (`MILVUS_TOKEN` with `MILVUS_ADDRESS`). */
  with?: string;
  /** How .env.example lists it, when docker-compose.yml takes it from there. */
  compose?: ComposeEntry;
}

/**
 * A variable docker-compose.yml takes from `.env`, as `.env.example` lists it: a server
 * variable's row holds its own, and src/config/env-example.ts those only the stack reads.
 */
export interface ComposeEntry {
  /** What it is for (none for one listed `with` another). */
  says?: string;
  /**
   * What makes its value: a signing `key` (`openssl rand -base64 48`), a URL-safe `password`
   * (`openssl rand -hex 32`), a `name` of one's choice; or an optional variable's example,
   * listed commented out.
   */
  value: 'key' | 'password' | 'name' | { example: string };
  /** Listed under this other entry's comment (`S3_ROOT_PASSWORD` with `S3_ROOT_USER`). */
  with?: string;
}

/** The row of every variable, by its schema. */
export const variableRows = z.registry<VariableRow>();

declare const placedAt: unique symbol;

/** A variable's schema, carrying in its type the path its row places it at (never: a section reads it). */
export type Variable<T extends z.ZodType, At extends string> = T & { readonly [placedAt]?: At };

/** A variable's schema (a copy: shared schemas serve several variables) with its row. */
function variable<T extends z.ZodType, const At extends PathTo<Config, z.output<T>> = never>(
  schema: T,
  row: Omit<VariableRow, 'at'> & { at?: At },
): Variable<T, At> {
  const own = schema.clone() as T;
  variableRows.add(own, row);
  return own;
}

/**
 * One entry per environment variable (PROTOCOL section 9 plus operational settings): its
 * schema with its default, where it lands in Config (`at`), and what the documentation says
 * of it. Each is parsed on its own so that every bad variable gets its own one-line error.
 */
export const envSchema = {
  /** HTTP and Socket.IO port. */
  PORT: variable(port(3000), { at: 'http.port', meaning: 'HTTP and Socket.IO port' }),
  /** Interface to listen on. */
  HOST: variable(z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')), {
    at: 'http.host',
    meaning: 'interface to listen on',
  }),
  /**
   * Base URL clients use to reach this node; presigned URLs of the embedded object store
   * point here (the embedded default: this node's own loopback address).
   */
  PUBLIC_URL: variable(urlWithScheme(['http', 'https'], 'https://voice.example.com'), {
    meaning: 'base URL clients use; embedded presigned URLs point here',
    compose: {
      says: 'where users reach the load balancer (default http://localhost:8080). Presigned download links are signed for it, so it must be the address browsers use.',
      value: { example: 'https://voice.example.com' },
    },
    shown: '`http://127.0.0.1:<PORT>`',
  }),
  /** Name of this node in logs, metrics and cluster messages. */
  NODE_ID: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 letters, digits, dots, dashes or underscores')
        .default(`${hostname()}-${process.pid}`.slice(0, 64).replace(/[^A-Za-z0-9._-]/g, '-')),
    ),
    { at: 'nodeId', meaning: 'node name in logs, metrics and cluster messages', shown: '`<hostname>-<pid>`' },
  ),
  /**
   * HS256 key for access tokens, at least 32 characters, neither weak nor published (see
   * `secretProblems`). Required when any external store is set.
   */
  JWT_SECRET: variable(
    z.preprocess(emptyToUndefined, z.string().min(32, 'expected at least 32 characters').optional()),
    {
      at: 'jwtSecret',
      meaning:
        'HS256 key for access tokens (≥ 32 chars, ≥ 10 different ones, about 100 bits or more, not a published default: `openssl rand -base64 48`); required once `DATABASE_URL`, `REDIS_URL` or `REDIS_CLUSTER_NODES` is set',
      unset: 'generated under `DATA_DIR/secrets` on the embedded default',
      compose: { says: 'Signs every access token: whoever knows it can act as any user or service.', value: 'key' },
    },
  ),
  /**
   * Bearer token `GET /metrics` asks for (`Authorization: Bearer <token>`), at least 32
   * characters, neither weak nor published. Unset: metrics are public.
   */
  METRICS_TOKEN: variable(
    z.preprocess(emptyToUndefined, z.string().min(32, 'expected at least 32 characters').optional()),
    {
      at: 'metricsToken',
      meaning:
        'bearer token `GET /metrics` asks for (401 without it); ≥ 32 chars, neither weak nor published (`openssl rand -base64 48`)',
      unset: 'none (`/metrics` is public)',
      compose: { says: "What the nodes' /metrics asks for as a bearer token; Prometheus sends it.", value: 'key' },
    },
  ),
  /** Lifetime of access tokens in seconds. */
  ACCESS_TOKEN_TTL_SECONDS: variable(positiveInt(900, 86_400), {
    at: 'tokens.accessTtlSeconds',
    meaning: 'lifetime of access tokens',
  }),
  /** Lifetime of refresh tokens in seconds. */
  REFRESH_TOKEN_TTL_SECONDS: variable(positiveInt(2_592_000, 31_536_000), {
    at: 'tokens.refreshTtlSeconds',
    meaning: 'lifetime of refresh tokens (30 days)',
  }),
  /** PostgreSQL connection string. Unset: embedded PostgreSQL under DATA_DIR/postgres. */
  DATABASE_URL: variable(urlWithScheme(['postgres', 'postgresql'], 'postgres://user:pass@host:5432/db'), {
    meaning: 'PostgreSQL connection string',
    unset: 'embedded PostgreSQL',
  }),
  /** Redis connection string. Unset: in-process equivalents (single node only). */
  REDIS_URL: variable(urlWithScheme(['redis', 'rediss'], 'redis://host:6379'), {
    meaning: 'Redis connection string',
    unset: 'in-process (one node only)',
  }),
  /**
   * Independent Redis masters for cluster locks, comma-separated (Redlock: a majority grants a
   * lease; use 3 or 5). Unset: locks on REDIS_URL alone. Fencing counters stay on REDIS_URL.
   */
  LOCK_REDIS_URLS: variable(redisUrlList, {
    meaning: 'comma-separated independent Redis masters for cluster locks (Redlock majority)',
    unset: 'locks on `REDIS_URL`',
  }),
  /**
   * Seed nodes of a Redis Cluster, comma-separated redis:// URLs (the first one's credentials
   * are used for every node). Instead of REDIS_URL: every use of Redis then runs on the
   * cluster (sharded pub/sub for broadcasts, hash-tagged keys for scripts and the queue).
   */
  REDIS_CLUSTER_NODES: variable(redisUrlList, {
    meaning: 'comma-separated seed URLs of a Redis Cluster, instead of `REDIS_URL` ([scale-out](scale-out.md))',
    unset: 'one Redis at `REDIS_URL`',
  }),
  /**
   * A namespace of this deployment in a Redis that others share: every key and channel it
   * uses starts with `<namespace>:`. Unset: no prefix (the keys of earlier versions).
   */
  REDIS_NAMESPACE: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1 to 64 letters, digits, underscores or hyphens')
        .optional(),
    ),
    {
      meaning:
        'what every Redis key and channel of this deployment starts with (`<namespace>:`), to share a Redis with other deployments',
    },
  ),
  /** Milvus gRPC address. Unset: embeddings in PostgreSQL, searched in memory on every node. */
  MILVUS_ADDRESS: variable(milvusAddress, {
    meaning: 'Milvus gRPC `host:port`, optional token',
    unset: 'embeddings in PostgreSQL, searched in memory on every node',
  }),
  /** Milvus token (`user:password` or an API key). */
  MILVUS_TOKEN: variable(optionalString, { with: 'MILVUS_ADDRESS' }),
  /** HNSW `ef` of Milvus searches (at least topK): higher finds more of the true nearest chunks, slower. */
  MILVUS_SEARCH_EF: variable(positiveInt(64, 32_768), {
    meaning:
      'HNSW `ef` of Milvus searches (raised to `topK`): higher finds more of the exact nearest chunks and costs time; see the retrieval benchmark',
  }),
  /** Collection holding chunk embeddings (in Milvus, or in PostgreSQL without it). */
  MILVUS_COLLECTION: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, 'expected a Milvus collection name (letters, digits, underscores)')
        .default('document_chunks'),
    ),
    { meaning: 'collection holding chunk embeddings (in Milvus, or in PostgreSQL without it)' },
  ),
  /** Neo4j Bolt URI. Unset: a graph kept in PostgreSQL. */
  NEO4J_URI: variable(
    urlWithScheme(['bolt', 'bolt+s', 'bolt+ssc', 'neo4j', 'neo4j+s', 'neo4j+ssc'], 'bolt://host:7687'),
    { meaning: 'Neo4j Bolt URI and credentials (user default `neo4j`)', unset: 'graph tables in PostgreSQL' },
  ),
  /** Neo4j user. */
  NEO4J_USER: variable(z.preprocess(emptyToUndefined, z.string().default('neo4j')), { with: 'NEO4J_URI' }),
  /** Neo4j password. */
  NEO4J_PASSWORD: variable(optionalString, {
    with: 'NEO4J_URI',
    compose: { says: "Neo4j's neo4j user (the nodes log in with it).", value: 'password' },
  }),
  /**
   * How long a Neo4j write or read is retried (with backoff) on a transient failure or a lost
   * connection before it fails: long enough to ride out a Neo4j restart.
   */
  NEO4J_RETRY_MS: variable(positiveInt(10_000, 600_000), {
    meaning: 'how long a Neo4j query is retried on a transient failure or lost connection before it fails',
  }),
  /** S3 endpoint (MinIO or any S3). Unset: a directory under DATA_DIR/objects. */
  S3_ENDPOINT: variable(urlWithScheme(['http', 'https'], 'http://host:9000'), {
    meaning: 'MinIO or any S3; keys required with the endpoint',
    unset: 'directory `DATA_DIR/objects`',
  }),
  /**
   * Where clients reach S3 when it is not at S3_ENDPOINT (behind a proxy, or compose, where
   * nodes use http://minio:9000 and browsers http://localhost:9000): presigned URLs are
   * signed for this address.
   */
  S3_PUBLIC_ENDPOINT: variable(urlWithScheme(['http', 'https'], 'http://host:9000'), {
    meaning:
      "where clients reach S3 when not at `S3_ENDPOINT` (a proxy, or compose's published port): presigned URLs are signed for it",
    unset: '`S3_ENDPOINT`',
  }),
  /** S3 access key (required with S3_ENDPOINT). */
  S3_ACCESS_KEY: variable(optionalString, { with: 'S3_ENDPOINT' }),
  /** S3 secret key (required with S3_ENDPOINT). */
  S3_SECRET_KEY: variable(optionalString, { with: 'S3_ENDPOINT' }),
  /** S3 bucket, created at start if missing. */
  S3_BUCKET: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected a valid S3 bucket name')
        .default('voicehelper'),
    ),
    { meaning: 'bucket (created at start) and region' },
  ),
  /** An S3 request that receives nothing for this long fails with UNAVAILABLE. */
  S3_TIMEOUT_MS: variable(positiveInt(30_000, 3_600_000), {
    meaning: 'an S3 request that receives nothing this long fails',
  }),
  /** S3 region. */
  S3_REGION: variable(z.preprocess(emptyToUndefined, z.string().default('us-east-1')), { with: 'S3_BUCKET' }),
  /** Optional OpenAI-compatible embeddings endpoint. Unset: the built-in local embedder. */
  EMBEDDINGS_URL: variable(urlWithScheme(['http', 'https'], 'http://host:8080/v1'), {
    at: 'embeddings.url',
    meaning: 'optional OpenAI-compatible embeddings endpoint (`<url>/embeddings`)',
    unset: 'built-in local embedder',
  }),
  /** Model name sent to EMBEDDINGS_URL. */
  EMBEDDINGS_MODEL: variable(z.preprocess(emptyToUndefined, z.string().max(200).default('text-embedding-3-small')), {
    at: 'embeddings.model',
    meaning: 'model name and bearer key for `EMBEDDINGS_URL`',
  }),
  /** Bearer key for EMBEDDINGS_URL, if it needs one. */
  EMBEDDINGS_API_KEY: variable(optionalString, { at: 'embeddings.apiKey', with: 'EMBEDDINGS_MODEL' }),
  /** Embedding dimension. */
  EMBEDDING_DIM: variable(positiveInt(1024, 32768), { at: 'embeddings.dim', meaning: 'embedding dimension' }),
  /** Where embedded stores keep their data. */
  DATA_DIR: variable(z.preprocess(emptyToUndefined, z.string().default('./data')), {
    meaning: 'where embedded stores and local secrets live',
  }),
  /** Port of the embedded PostgreSQL (loopback only). */
  EMBEDDED_PG_PORT: variable(port(54329), { meaning: 'loopback port of the embedded PostgreSQL' }),
  /**
   * Where spans go (an OpenTelemetry collector's OTLP/HTTP address; `/v1/traces` is added).
   * Unset: tracing is off and costs nothing.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: variable(urlWithScheme(['http', 'https'], 'http://collector:4318'), {
    at: 'tracing.endpoint',
    meaning:
      "an OpenTelemetry collector's OTLP/HTTP address (`/v1/traces` is added): spans of socket events, HTTP requests, commits, the relay and retrieval go there",
    unset: 'tracing off',
  }),
  /** The service name of this node's spans. */
  OTEL_SERVICE_NAME: variable(z.preprocess(emptyToUndefined, z.string().min(1).max(100).default('voicehelper')), {
    at: 'tracing.serviceName',
    meaning: "the `service.name` of this node's spans (the node id is `service.instance.id`)",
  }),
  /** The share of new traces kept; a trace begun by a caller keeps the caller's decision. */
  OTEL_TRACES_SAMPLER_ARG: variable(
    z.preprocess(
      emptyToUndefined,
      z.coerce
        .number({ error: 'expected a number from 0 to 1' })
        .min(0, 'expected a number from 0 to 1')
        .max(1, 'expected a number from 0 to 1')
        .default(1),
    ),
    {
      at: 'tracing.sampleRatio',
      meaning: 'the share of new traces kept, 0 to 1 (parent-based: a trace begun elsewhere keeps its decision)',
    },
  ),
  /** How long spans wait to be sent together. */
  OTEL_BSP_SCHEDULE_DELAY: variable(positiveInt(5_000, 60_000), {
    at: 'tracing.exportDelayMs',
    meaning: 'ms between two exports of the spans made meanwhile',
  }),
  /** pino level. */
  LOG_LEVEL: variable(
    z.preprocess(
      emptyToUndefined,
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ),
    { at: 'logLevel', meaning: 'pino level (`fatal` … `trace`, `silent`)' },
  ),
  /** Connections of this node's PostgreSQL pool. */
  DB_POOL_MAX: variable(positiveInt(20, 1000), {
    at: 'database.poolMax',
    meaning: "connections of this node's PostgreSQL pool",
  }),
  /** Longest one SQL statement may run (server side; the client gives up 5 s later). */
  DB_STATEMENT_TIMEOUT_MS: variable(positiveInt(30_000, 3_600_000), {
    at: 'database.timeouts.statementMs',
    meaning: 'longest SQL statement (server side; the client gives up 5 s later)',
  }),
  /** Longest a statement waits for a lock. */
  DB_LOCK_TIMEOUT_MS: variable(positiveInt(5_000, 3_600_000), {
    at: 'database.timeouts.lockMs',
    meaning: 'longest wait for a lock',
  }),
  /** A session idle inside a transaction this long is ended by the server. */
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: variable(positiveInt(60_000, 3_600_000), {
    at: 'database.timeouts.idleInTransactionMs',
    meaning: 'a session idle inside a transaction this long is ended',
  }),
  /** A message still waiting for its group-commit batch this long is answered UNAVAILABLE and never written. */
  GROUP_COMMIT_QUEUE_TIMEOUT_MS: variable(positiveInt(5_000, 600_000), {
    at: 'database.groupCommit.queueTimeoutMs',
    meaning: 'a message still waiting for its batch this long is answered `UNAVAILABLE` and never written',
  }),
  /** Most messages committed in one transaction. */
  GROUP_COMMIT_MAX_BATCH: variable(positiveInt(256, 10_000), {
    at: 'database.groupCommit.maxBatch',
    meaning: 'most messages committed in one transaction',
  }),
  /** Longest a message waits for companions before its batch is sent, in ms. */
  GROUP_COMMIT_MAX_WAIT_MS: variable(nonNegativeInt(2, 1_000), {
    at: 'database.groupCommit.maxWaitMs',
    meaning: 'longest a message waits for companions before its batch leaves (0: next tick)',
  }),
  /** Message batches committed at once (each holds a connection). */
  GROUP_COMMIT_MAX_IN_FLIGHT: variable(positiveInt(4, 100), {
    at: 'database.groupCommit.maxInFlight',
    meaning: 'message batches committing at once',
  }),
  /** Monthly partitions created ahead of the current month. */
  PARTITION_MONTHS_AHEAD: variable(nonNegativeInt(3, 60), {
    at: 'database.partitions.monthsAhead',
    meaning: 'monthly partitions of `messages` and `audit_logs` created ahead',
  }),
  /** Whole months of messages and audit logs kept before the current one; 0 keeps all. */
  PARTITION_RETENTION_MONTHS: variable(nonNegativeInt(0, 1_200), {
    at: 'database.partitions.retentionMonths',
    meaning: 'whole months kept before the current one (0 keeps everything)',
  }),
  /** Largest message `content` in UTF-8 bytes. */
  MESSAGE_MAX_BYTES: variable(positiveInt(32_768, 1_048_576), {
    at: 'messages.maxContentBytes',
    meaning: 'largest message `content` in UTF-8 bytes',
  }),
  /** An open stream with no delta for this long is committed as an interrupted turn. */
  STREAM_IDLE_MS: variable(positiveInt(30_000, 3_600_000), {
    at: 'streams.idleMs',
    meaning: 'an open stream idle this long is committed as an interrupted turn',
  }),
  /** A stream whose socket went away is committed as interrupted only if its owner has not continued it within this long. */
  STREAM_RESUME_GRACE_MS: variable(positiveInt(5_000, 600_000), {
    at: 'streams.resumeGraceMs',
    meaning:
      'a stream whose socket went away is committed as interrupted only if its owner has not continued it within this',
  }),
  /** How often open streams, dead nodes and presence are checked. */
  STREAM_SWEEP_MS: variable(positiveInt(2_000, 60_000), {
    at: 'streams.sweepMs',
    meaning: 'how often streams, dead nodes and heartbeats are handled',
  }),
  /**
   * How often each node reads from PostgreSQL the changes of access it may not have been told
   * of (roles, status, logouts, revoked keys: made by another node or the CLI), and re-checks
   * its sockets (user, role, family, token expiry). At most 60000: changes reach every node
   * within a minute.
   */
  PRIVILEGE_SWEEP_MS: variable(positiveInt(15_000, 60_000), {
    at: 'privilegeSweepMs',
    meaning:
      'how often each node reads changes of access from PostgreSQL (roles, status, logouts, revoked keys, wherever made) and re-checks its sockets (user, role, family, token expiry); at most `60000`',
  }),
  /** A node that has not heart-beaten for this long counts as dead (its presence and streams are cleaned up). */
  NODE_ALIVE_MS: variable(positiveInt(15_000, 600_000), {
    at: 'streams.nodeAliveMs',
    meaning: 'a node silent this long counts as dead',
  }),
  /** The agent of sessions created without one (protocol v7). */
  DEFAULT_AGENT: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'expected an agent name (lowercase letters, digits, _ . -) or none')
        .optional(),
    ),
    {
      meaning: 'the agent whose worker answers sessions created without naming one; `none` for no agent',
      unset: '`assistant` on the embedded default (the reference assistant), else none',
    },
  ),
  /**
   * Whether this node starts the reference assistant (assistant/) as its child process and
   * keeps it running: `on` or `off`. Unset: on for the embedded default, off otherwise.
   */
  ASSISTANT: variable(z.preprocess(emptyToUndefined, z.enum(['on', 'off']).optional()), {
    meaning:
      'whether the node starts the reference assistant as its child and restarts it when it exits: `on` or `off` ([assistant](assistant.md)); needs `ASSISTANT_PYTHON`',
    unset: '`on` on the embedded default, else `off`',
  }),
  /** The Python the node runs the assistant on: the assistant's venv (`npm start` sets it). */
  ASSISTANT_PYTHON: variable(optionalString, {
    meaning:
      "the Python of the assistant's venv that the node runs it on (`python -m voicehelper_assistant`); `npm start` makes the venv (scripts/assistant.sh) and sets it",
    unset: 'none: an assistant on by default is not started (logged), `ASSISTANT=on` is refused',
  }),
  /** How soon a session whose worker went away has another one. */
  AGENT_REDISPATCH_MS: variable(
    z.preprocess(
      emptyToUndefined,
      z.coerce
        .number({ error: 'expected an integer from 500 to 60000' })
        .int('expected an integer from 500 to 60000')
        .min(500, 'expected an integer from 500 to 60000')
        .max(60_000, 'expected an integer from 500 to 60000')
        .default(5_000),
    ),
    {
      at: 'agents.redispatchMs',
      meaning:
        "the longest a session waits for another worker after its worker's socket or node went away (workers are renewed every fifth of it)",
    },
  ),
  /** What a node does when Redis cannot be reached for rate limiting: `open` (limit per node in memory) or `closed` (refuse with UNAVAILABLE). */
  RATE_LIMIT_FAIL_MODE: variable(z.preprocess(emptyToUndefined, z.enum(['open', 'closed']).default('open')), {
    at: 'rateLimits.failMode',
    meaning: 'without Redis: `open` limits per node in memory, `closed` answers `UNAVAILABLE`',
  }),
  /** How long one check in Redis may take before RATE_LIMIT_FAIL_MODE applies to it. */
  RATE_LIMIT_SHARED_TIMEOUT_MS: variable(positiveInt(250, 60_000), {
    at: 'rateLimits.sharedTimeoutMs',
    meaning: 'how long one rate-limit check in Redis may take before `RATE_LIMIT_FAIL_MODE` applies to it',
  }),
  /** `message:send` per user, as `<count>/<window>` (window in ms, or with s/m/h). */
  RATE_LIMIT_MESSAGE_SEND: variable(limitRule('20/10s'), {
    at: 'rateLimits.events.message:send',
    meaning:
      '`message:send` per user, and each delta that opens a stream (`<count>/<window>`, window in ms or with `s`/`m`/`h`)',
  }),
  /** `message:delta` per user. */
  RATE_LIMIT_MESSAGE_DELTA: variable(limitRule('200/10s'), {
    at: 'rateLimits.events.message:delta',
    meaning: '`message:delta` per user',
  }),
  /** `message:transcript` per user. */
  RATE_LIMIT_MESSAGE_TRANSCRIPT: variable(limitRule('120/10s'), {
    at: 'rateLimits.events.message:transcript',
    meaning: '`message:transcript` per user (services)',
  }),
  /** `audio:chunk` per user. */
  RATE_LIMIT_AUDIO_CHUNK: variable(limitRule('600/10s'), {
    at: 'rateLimits.events.audio:chunk',
    meaning: '`audio:chunk` per user (one 20 ms stream sends 500 per 10 s)',
  }),
  /** `retrieve` per user. */
  RATE_LIMIT_RETRIEVE: variable(limitRule('10/10s'), {
    at: 'rateLimits.events.retrieve',
    meaning: '`retrieve` per user',
  }),
  /** `sys:ping` per user. */
  RATE_LIMIT_SYS_PING: variable(limitRule('60/10s'), {
    at: 'rateLimits.events.sys:ping',
    meaning: '`sys:ping` per user',
  }),
  /** `session:create` per user. */
  RATE_LIMIT_SESSION_CREATE: variable(limitRule('30/60s'), {
    at: 'rateLimits.events.session:create',
    meaning: '`session:create` per user',
  }),
  /** `session:join` per user (a reconnecting client rejoins every session it had). */
  RATE_LIMIT_SESSION_JOIN: variable(limitRule('120/60s'), {
    at: 'rateLimits.events.session:join',
    meaning: '`session:join`, `session:leave` per user',
  }),
  /** `session:leave` per user. */
  RATE_LIMIT_SESSION_LEAVE: variable(limitRule('120/60s'), {
    at: 'rateLimits.events.session:leave',
    with: 'RATE_LIMIT_SESSION_JOIN',
  }),
  /** `session:list` per user. */
  RATE_LIMIT_SESSION_LIST: variable(limitRule('60/60s'), {
    at: 'rateLimits.events.session:list',
    meaning: '`session:list`, `session:update` per user',
  }),
  /** `session:update` per user. */
  RATE_LIMIT_SESSION_UPDATE: variable(limitRule('60/60s'), {
    at: 'rateLimits.events.session:update',
    with: 'RATE_LIMIT_SESSION_LIST',
  }),
  /** `session:delete` per user. */
  RATE_LIMIT_SESSION_DELETE: variable(limitRule('30/60s'), {
    at: 'rateLimits.events.session:delete',
    meaning: '`session:delete` per user',
  }),
  /** `turn:interrupt` per user. */
  RATE_LIMIT_TURN_INTERRUPT: variable(limitRule('60/60s'), {
    at: 'rateLimits.events.turn:interrupt',
    meaning: '`turn:interrupt` (barge-in) per user',
  }),
  /** `history:get` per user. */
  RATE_LIMIT_HISTORY_GET: variable(limitRule('120/60s'), {
    at: 'rateLimits.events.history:get',
    meaning: '`history:get` per user',
  }),
  /** `audio:start` per user. */
  RATE_LIMIT_AUDIO_START: variable(limitRule('60/60s'), {
    at: 'rateLimits.events.audio:start',
    meaning: '`audio:start`, `audio:end`, `audio:abort` per user',
  }),
  /** `audio:end` per user. */
  RATE_LIMIT_AUDIO_END: variable(limitRule('60/60s'), {
    at: 'rateLimits.events.audio:end',
    with: 'RATE_LIMIT_AUDIO_START',
  }),
  /** `audio:abort` per user. */
  RATE_LIMIT_AUDIO_ABORT: variable(limitRule('60/60s'), {
    at: 'rateLimits.events.audio:abort',
    with: 'RATE_LIMIT_AUDIO_START',
  }),
  /** `audio:url` per user. */
  RATE_LIMIT_AUDIO_URL: variable(limitRule('120/60s'), {
    at: 'rateLimits.events.audio:url',
    meaning: '`audio:url` per user',
  }),
  /** `agent:register` per user. */
  RATE_LIMIT_AGENT_REGISTER: variable(limitRule('30/60s'), {
    at: 'rateLimits.events.agent:register',
    meaning: '`agent:register` per user',
  }),
  /** `agent:release` per user. */
  RATE_LIMIT_AGENT_RELEASE: variable(limitRule('600/60s'), {
    at: 'rateLimits.events.agent:release',
    meaning: '`agent:release` per user',
  }),
  /** Authenticated HTTP requests per user (every route but health, metrics and auth, which have their own). */
  RATE_LIMIT_HTTP: variable(limitRule('600/60s'), {
    at: 'rateLimits.http',
    meaning: 'authenticated HTTP requests per user',
  }),
  /** `POST /v1/auth/register` per IP (fixed window). */
  RATE_LIMIT_REGISTER: variable(limitRule('10/1h'), {
    at: 'rateLimits.register',
    meaning: 'registrations per IP (fixed window)',
  }),
  /** `POST /v1/auth/refresh` and `POST /v1/auth/logout` per IP, together (fixed window). */
  RATE_LIMIT_REFRESH: variable(limitRule('60/60s'), {
    at: 'rateLimits.refresh',
    meaning: '`POST /v1/auth/refresh` and `POST /v1/auth/logout` per IP, counted together (fixed window)',
  }),
  /** `POST /v1/auth/login` per IP across all emails (password spraying; fixed window, then blocked for one window). */
  RATE_LIMIT_LOGIN_IP: variable(limitRule('30/60s'), {
    at: 'rateLimits.loginIp',
    meaning: 'logins per IP whatever the email (password spraying; fixed window, then blocked)',
  }),
  /**
   * Failed sign-ins per account (email) from any address, counted by all nodes together (in
   * Redis when configured): login, and a wrong current password at `PUT /v1/users/me/password`
   * and `DELETE /v1/users/me`. Past it, every sign-in of the account is refused with 429
   * until the window ends (fixed window).
   */
  RATE_LIMIT_LOGIN_ACCOUNT: variable(limitRule('20/15m'), {
    at: 'rateLimits.loginAccount',
    meaning:
      'failed sign-ins per account (email) from any address, all nodes together (login, and wrong current passwords of `PUT /v1/users/me/password` and `DELETE /v1/users/me`); then 429 until the window ends',
  }),
  /** Password hashes (Argon2id) computed at once by one node. */
  PASSWORD_HASH_CONCURRENCY: variable(positiveInt(2, 64), {
    at: 'passwordHashing.concurrency',
    meaning: 'Argon2id runs at once per node, and waiting; beyond, 429 at once',
  }),
  /** Password hashes waiting for a slot; more are refused with RATE_LIMITED. */
  PASSWORD_HASH_QUEUE: variable(positiveInt(64, 100_000), {
    at: 'passwordHashing.maxWaiting',
    with: 'PASSWORD_HASH_CONCURRENCY',
  }),
  /** Events of one socket being handled at once; more are refused with RATE_LIMITED. */
  SOCKET_MAX_IN_FLIGHT: variable(positiveInt(32, 10_000), {
    at: 'rateLimits.socketInFlight',
    meaning: 'events of one socket handled at once; more are refused with `RATE_LIMITED`',
  }),
  /** Document uploads received at once by one node; more are refused with RATE_LIMITED. */
  UPLOAD_MAX_CONCURRENT: variable(positiveInt(8, 1_000), {
    at: 'documents.maxConcurrentUploads',
    meaning: 'uploads one node receives at once (429 beyond)',
  }),
  /** Document uploads one user may have in flight on one node; more are refused with RATE_LIMITED. */
  UPLOAD_MAX_CONCURRENT_PER_USER: variable(positiveInt(2, 1_000), {
    at: 'documents.maxConcurrentUploadsPerUser',
    meaning: 'uploads one node receives at once for one user (429 beyond), so that one user cannot take every slot',
  }),
  /**
   * An upload whose body sends nothing for this long is cut with 408 and frees its slot; also
   * the window UPLOAD_MIN_BYTES_PER_SECOND is averaged over.
   */
  UPLOAD_IDLE_TIMEOUT_MS: variable(positiveInt(10_000, 600_000), {
    at: 'documents.bodyIdleTimeoutMs',
    meaning:
      'an upload body that sends nothing for this long, or less than this rate averaged over that long (`0`: no least rate), is cut with 408 and frees its slot; time the server holds the body back does not count',
  }),
  /**
   * Least rate of an upload body, averaged over each UPLOAD_IDLE_TIMEOUT_MS while the server
   * waits for it; a slower one is cut with 408. 0: no least rate.
   */
  UPLOAD_MIN_BYTES_PER_SECOND: variable(nonNegativeInt(4_096, 1024 * 1024 * 1024), {
    at: 'documents.minBytesPerSecond',
    with: 'UPLOAD_IDLE_TIMEOUT_MS',
  }),
  /** Documents one user may keep. */
  UPLOAD_QUOTA_DOCUMENTS: variable(positiveInt(1_000, 100_000_000), {
    at: 'quotas.documents',
    meaning: 'documents and bytes one user may keep (413 with `details.quota` beyond)',
  }),
  /** Bytes of documents one user may keep. */
  UPLOAD_QUOTA_BYTES: variable(positiveInt(1024 * 1024 * 1024, Number.MAX_SAFE_INTEGER), {
    at: 'quotas.bytes',
    with: 'UPLOAD_QUOTA_DOCUMENTS',
  }),
  /** New Socket.IO connections per IP (fixed window). */
  RATE_LIMIT_CONNECTIONS: variable(limitRule('30/60s'), {
    at: 'rateLimits.connections',
    meaning: 'new Socket.IO connections per IP (fixed window)',
  }),
  /** `POST /v1/auth/login` per IP and email (fixed window, then blocked for the window). */
  RATE_LIMIT_LOGIN: variable(limitRule('10/60s'), {
    at: 'rateLimits.login',
    meaning: 'logins per IP and email (fixed window, then blocked for one window)',
  }),
  /**
   * Proxies whose `X-Forwarded-For` gives the client's address: addresses or CIDRs, comma
   * separated, or `loopback`, `linklocal`, `uniquelocal`. Unset: the peer's own address.
   */
  TRUST_PROXY: variable(
    z.preprocess(
      (value) => (value === undefined ? '' : value),
      z
        .string()
        .transform((value) =>
          value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '' && part !== 'false'),
        )
        .refine((list) => {
          try {
            proxyAddr.compile(list);
            return true;
          } catch {
            return false;
          }
        }, 'expected addresses or CIDRs (or loopback, linklocal, uniquelocal), comma separated'),
    ),
    {
      at: 'http.trustProxy',
      meaning:
        'proxies (addresses, CIDRs, `loopback`, `linklocal`, `uniquelocal`) whose `X-Forwarded-For` gives the client address',
    },
  ),
  /** Browser origins allowed besides the node's own, comma separated (`*` for any). */
  CORS_ORIGINS: variable(
    z.preprocess(
      (value) => (value === undefined ? '' : value),
      z
        .string()
        .transform((value) =>
          value
            .split(',')
            .map((part) => part.trim().replace(/\/$/, ''))
            .filter((part) => part !== ''),
        )
        .refine(
          (list) => list.every((origin) => origin === '*' || /^https?:\/\/[^/\s]+$/.test(origin)),
          'expected origins like https://app.example.com, comma separated',
        ),
    ),
    {
      at: 'http.corsOrigins',
      meaning: 'other browser origins allowed over HTTP and at the Socket.IO handshake (`*` for any)',
      unset: 'none (same origin only)',
    },
  ),
  /** Largest `audio:chunk` in bytes. */
  AUDIO_CHUNK_MAX_BYTES: variable(positiveInt(65_536, 1_000_000), {
    at: 'audio.chunkMaxBytes',
    meaning: 'largest `audio:chunk`',
  }),
  /** Largest audio stream in bytes. */
  AUDIO_STREAM_MAX_BYTES: variable(positiveInt(10 * 1024 * 1024, 100 * 1024 * 1024), {
    at: 'audio.streamMaxBytes',
    meaning: 'largest audio stream',
  }),
  /** An audio stream with no chunk for this long is discarded. */
  AUDIO_STREAM_TIMEOUT_MS: variable(positiveInt(60_000, 3_600_000), {
    at: 'audio.streamTimeoutMs',
    meaning: 'an audio stream without chunks this long is discarded',
  }),
  /** Audio streams open at once on one socket. */
  AUDIO_STREAMS_PER_SOCKET: variable(positiveInt(4, 1_000), {
    at: 'audio.streamsPerSocket',
    meaning: 'audio streams open at once per socket, and per user on one node',
  }),
  /** Audio streams open at once for one user on one node. */
  AUDIO_STREAMS_PER_USER: variable(positiveInt(8, 10_000), {
    at: 'audio.streamsPerUser',
    with: 'AUDIO_STREAMS_PER_SOCKET',
  }),
  /** Audio bytes one node buffers over all open streams. */
  AUDIO_BUFFER_MAX_BYTES: variable(positiveInt(256 * 1024 * 1024, Number.MAX_SAFE_INTEGER), {
    at: 'audio.nodeMaxBytes',
    meaning: 'audio bytes one node buffers over all streams',
  }),
  /**
   * Live audio frames held for one socket that is not reading them (its outbound bytes past
   * OUTBOUND_SOFT_LIMIT_BYTES); past it the oldest are dropped.
   */
  LIVE_AUDIO_BUFFER_FRAMES: variable(positiveInt(50, 10_000), {
    at: 'audio.liveBufferFrames',
    meaning:
      'live audio frames (`audio:frame`) held for a socket that does not read them; past it its oldest are dropped and counted',
  }),
  /** A socket is sent more catch-up history only while fewer bytes than this wait to be written to it. */
  OUTBOUND_SOFT_LIMIT_BYTES: variable(positiveInt(1024 * 1024, Number.MAX_SAFE_INTEGER), {
    at: 'outbound.softLimitBytes',
    meaning: 'a socket catching up is sent more only while less than this waits to be written to it',
  }),
  /** A socket with more bytes than this waiting to be written is a slow consumer and is disconnected. */
  OUTBOUND_HARD_LIMIT_BYTES: variable(positiveInt(16 * 1024 * 1024, Number.MAX_SAFE_INTEGER), {
    at: 'outbound.hardLimitBytes',
    meaning: 'a socket with more than this waiting is ended as a slow consumer',
  }),
  /** How long a catch-up waits for a socket to drain before it counts as a slow consumer. */
  SLOW_CONSUMER_TIMEOUT_MS: variable(positiveInt(30_000, 600_000), {
    at: 'outbound.drainTimeoutMs',
    meaning: 'how long a catch-up waits for a socket to drain',
  }),
  /** Lifetime of `audio:url` links in seconds. */
  AUDIO_URL_TTL_SECONDS: variable(positiveInt(900, 7 * 86_400), {
    at: 'audio.urlTtlSeconds',
    meaning: 'lifetime of `audio:url` links',
  }),
  /** Largest document upload in bytes. */
  DOCUMENT_MAX_BYTES: variable(positiveInt(50 * 1024 * 1024, 1024 * 1024 * 1024), {
    at: 'documents.maxBytes',
    meaning: 'largest document upload',
  }),
  /** Documents ingested at once per node. */
  INGEST_CONCURRENCY: variable(positiveInt(2, 64), {
    at: 'documents.concurrency',
    meaning: 'ingestion jobs per node, attempts per document',
  }),
  /** Name of the ingestion queue; every node of one cluster must use the same. */
  INGEST_QUEUE: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, - or _')
        .default('vh-ingest'),
    ),
    { at: 'documents.queue', meaning: 'BullMQ queue name (one per cluster)' },
  ),
  /** A job whose worker stopped renewing it for this long is taken over by another node. */
  INGEST_STALLED_MS: variable(positiveInt(30_000, 600_000), {
    at: 'documents.stalledMs',
    meaning: 'a job whose worker stopped renewing it this long is taken over',
  }),
  /** How often the storage reconciler runs (one node at a time): stuck documents, unfinished deletes, orphaned objects. */
  RECONCILE_INTERVAL_MS: variable(positiveInt(300_000, 86_400_000), {
    at: 'reconcile.intervalMs',
    meaning: 'how often the storage reconciler runs (one node at a time)',
  }),
  /** What the reconciler leaves alone: anything younger than this. */
  RECONCILE_GRACE_MS: variable(positiveInt(600_000, 7 * 86_400_000), {
    at: 'reconcile.graceMs',
    meaning: 'the reconciler leaves anything younger than this alone',
  }),
  /** Where `voicehelper backup` and scheduled backups write: a directory or `s3://bucket/prefix`. Unset: no default. */
  BACKUP_TARGET: variable(optionalString, {
    at: 'backup.target',
    meaning: 'where backups go: a directory or `s3://bucket/prefix` (default of `voicehelper backup --to/--from`)',
  }),
  /** Passphrase that encrypts backups (AES-256-GCM, key by scrypt); backups hold password and key hashes. Unset: not encrypted. */
  BACKUP_ENCRYPTION_KEY: variable(
    z.preprocess(emptyToUndefined, z.string().min(16, 'expected at least 16 characters').optional()),
    {
      at: 'backup.encryptionKey',
      meaning: 'passphrase (≥ 16 chars) that encrypts backups with AES-256-GCM',
      unset: 'none (not encrypted)',
    },
  ),
  /** Daily backup time on the server, `HH:MM` UTC (one node of the cluster takes it, to BACKUP_TARGET). Unset: no schedule. */
  BACKUP_SCHEDULE: variable(
    z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (UTC)')
        .optional(),
    ),
    {
      at: 'backup.schedule',
      meaning: 'daily backup time `HH:MM` UTC, taken by one node of the cluster (needs `BACKUP_TARGET`)',
    },
  ),
  /** Scheduled backups older than this many days are pruned after each scheduled run. */
  BACKUP_KEEP_DAYS: variable(positiveInt(30, 3650), {
    at: 'backup.keepDays',
    meaning: 'scheduled backups older than this are pruned',
  }),
  /** Attempts per ingestion job before the document is marked failed. */
  INGEST_ATTEMPTS: variable(positiveInt(3, 20), { at: 'documents.attempts', with: 'INGEST_CONCURRENCY' }),
  /**
   * How long an ingestion job waits out a store that is down (PostgreSQL, Redis, S3, Milvus,
   * Neo4j unreachable) before such failures count as attempts.
   */
  INGEST_OUTAGE_BUDGET_MS: variable(positiveInt(600_000, 86_400_000), {
    at: 'documents.outageBudgetMs',
    meaning: 'how long an ingestion job waits out a store that is down before such failures count as attempts',
  }),
  /** Longest one document parse (or batch of built-in embeddings) may run before its worker is replaced. */
  PARSE_TIMEOUT_MS: variable(positiveInt(120_000, 3_600_000), {
    at: 'parsing.timeoutMs',
    meaning: 'limits of one document parse on a parsing thread (time from the request, its wait included; heap)',
  }),
  /** Heap of each document parsing thread in MiB. */
  PARSE_MAX_MEMORY_MB: variable(positiveInt(1_024, 65_536), { at: 'parsing.maxMemoryMb', with: 'PARSE_TIMEOUT_MS' }),
  /** Threads that parse documents (and run the built-in embedder) at once. */
  PARSE_WORKERS: variable(positiveInt(2, 64), {
    at: 'parsing.threads',
    meaning:
      'threads that parse documents and run the built-in embedder at once (a pool: they start on demand and end after a minute idle)',
  }),
  /** Parses and embeddings that may wait for a thread. */
  PARSE_QUEUE_MAX: variable(positiveInt(64, 100_000), {
    at: 'parsing.maxQueue',
    meaning:
      'parses and embeddings that may wait for a parsing thread; more are refused with `UNAVAILABLE` (ingestion retries)',
  }),
  /** Longest an HTTP request may take to arrive whole (uploads included). */
  HTTP_REQUEST_TIMEOUT_MS: variable(positiveInt(300_000, 3_600_000), {
    at: 'http.requestTimeoutMs',
    meaning: 'HTTP deadlines: whole request, headers, idle keep-alive',
  }),
  /** Longest a client may take to send a request's headers. */
  HTTP_HEADERS_TIMEOUT_MS: variable(positiveInt(10_000, 600_000), {
    at: 'http.headersTimeoutMs',
    with: 'HTTP_REQUEST_TIMEOUT_MS',
  }),
  /** How long an idle keep-alive HTTP connection stays open. */
  HTTP_KEEPALIVE_TIMEOUT_MS: variable(positiveInt(5_000, 600_000), {
    at: 'http.keepAliveTimeoutMs',
    with: 'HTTP_REQUEST_TIMEOUT_MS',
  }),
  /** Entity extraction during ingestion: `keywords` (built in, English and Chinese) or `none`. */
  GRAPH_EXTRACTOR: variable(z.preprocess(emptyToUndefined, z.enum(['keywords', 'none']).default('keywords')), {
    at: 'knowledge.extractor',
    meaning: 'entity extraction during ingestion: `keywords` (built in, English and Chinese) or `none`',
  }),
  /** Most entities kept per document (the most confident). */
  GRAPH_MAX_ENTITIES_PER_DOCUMENT: variable(positiveInt(100, 1_000), {
    at: 'knowledge.maxEntitiesPerDocument',
    meaning: 'most entities kept per document (the most confident)',
  }),
  /** Graph algorithms through Neo4j's Graph Data Science plugin when it is installed (`auto`), or always in process (`off`). */
  GRAPH_GDS: variable(z.preprocess(emptyToUndefined, z.enum(['auto', 'off']).default('auto')), {
    at: 'knowledge.gds',
    meaning:
      "graph algorithms on Neo4j's Graph Data Science plugin when it is installed (`auto`), or always in process (`off`)",
  }),
  /** Apply migrations at start under a database lock. */
  MIGRATE_ON_START: variable(bool(true), {
    at: 'migrateOnStart',
    meaning: 'apply migrations at start under an advisory lock',
  }),
  /** How long SIGTERM may take to drain before the node exits anyway. */
  SHUTDOWN_TIMEOUT_MS: variable(positiveInt(10_000), {
    at: 'shutdownTimeoutMs',
    meaning: 'how long SIGTERM waits for running handlers',
  }),
  /**
   * Longest the vector and the graph halves of one `retrieve` may take together: a half
   * still running when it is spent is left empty and named in `degraded`, as when its store
   * fails.
   */
  RETRIEVE_TIMEOUT_MS: variable(positiveInt(3_000, 600_000), {
    at: 'retrieveTimeoutMs',
    meaning:
      'longest the vector and graph halves of one `retrieve` may take together; a half still running then degrades',
  }),
  /** Timeout of one readiness probe per dependency (start waits 5x this for the vector index and graph). */
  DEPENDENCY_TIMEOUT_MS: variable(positiveInt(2_000), {
    at: 'dependencyTimeoutMs',
    meaning: 'timeout of each readiness probe',
  }),
  /**
   * Dependencies whose failure does not make `/readyz` return 503, comma separated.
   *
   */
  READINESS_OPTIONAL: variable(
    z.preprocess(
      (value) => (value === undefined ? 'vector,graph' : value),
      z
        .string()
        .transform((value) =>
          value
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== ''),
        )
        .pipe(
          z.array(
            z.enum(dependencyNames, { error: `expected a comma-separated list of ${dependencyNames.join(', ')}` }),
          ),
        ),
    ),
    { meaning: 'dependencies whose failure does not fail `/readyz` (retrieval degrades without them)' },
  ),
} as const;

export type EnvSchema = typeof envSchema;
export type ParsedEnv = { [K in keyof EnvSchema]: z.output<EnvSchema[K]> };

/** The path a variable's row places it at; never for a variable a section reads. */
type PlacedAt<S> = S extends { readonly [placedAt]?: infer At } ? Exclude<At, undefined> : never;

/** Every path of Config that a variable's row places. */
export type PlacedPath = { [K in keyof EnvSchema]: PlacedAt<EnvSchema[K]> }[keyof EnvSchema];

/** The variables no row places: the sections read them. */
export type SectionVariable = {
  [K in keyof EnvSchema]: [PlacedAt<EnvSchema[K]>] extends [never] ? K : never;
}[keyof EnvSchema];
