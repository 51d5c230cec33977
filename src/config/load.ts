import path from 'node:path';
import type { Config, S3Address } from './config.js';
import { envSchema, type ParsedEnv, SECRET_VARIABLES } from './schema.js';
import { secretProblems } from './secrets.js';

/** Thrown by `loadConfig` with one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describe(name: string, raw: string | undefined): string {
  if (raw === undefined) return 'not set';
  if (SECRET_VARIABLES.has(name)) return 'value hidden';
  return `got ${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}...` : raw)}`;
}

function parseEnv(env: NodeJS.ProcessEnv): ParsedEnv {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema)) {
    const raw = env[name];
    const result = schema.safeParse(raw);
    if (result.success) {
      parsed[name] = result.data;
    } else {
      const message = result.error.issues[0]?.message ?? 'invalid value';
      problems.push(`${name}: ${message} (${describe(name, raw)})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed as ParsedEnv;
}

/**
 * Parses and validates the environment once, fills defaults and returns a frozen Config.
 * Nothing else in the server reads `process.env`.
 */
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseEnv(env);
  // A published or weak secret stops the node as any bad value does.
  const problems: string[] = secretProblems(e);
  const dataDir = path.resolve(e.DATA_DIR);
  const redisUrl = e.REDIS_URL ?? e.REDIS_CLUSTER_NODES?.[0];
  const external = [e.DATABASE_URL, redisUrl, e.MILVUS_ADDRESS, e.NEO4J_URI, e.S3_ENDPOINT].some(
    (v) => v !== undefined,
  );

  if (e.JWT_SECRET === undefined && (e.DATABASE_URL !== undefined || redisUrl !== undefined)) {
    problems.push(
      'JWT_SECRET: required when DATABASE_URL, REDIS_URL or REDIS_CLUSTER_NODES is set, so that every node of a cluster signs with the same key (not set)',
    );
  }
  if (e.REDIS_URL !== undefined && e.REDIS_CLUSTER_NODES !== undefined) {
    problems.push('REDIS_CLUSTER_NODES: set it or REDIS_URL, not both (one Redis, or a Redis Cluster)');
  }
  if (e.LOCK_REDIS_URLS !== undefined && redisUrl === undefined) {
    problems.push(
      'REDIS_URL: required with LOCK_REDIS_URLS (fencing counters and everything else stay on it) (not set)',
    );
  }
  if (e.BACKUP_SCHEDULE !== undefined && e.BACKUP_TARGET === undefined) {
    problems.push('BACKUP_TARGET: required with BACKUP_SCHEDULE, where scheduled backups go (not set)');
  }
  let objects: Config['objects'] = { mode: 'fs', dir: path.join(dataDir, 'objects'), bucket: e.S3_BUCKET };
  if (e.S3_ENDPOINT !== undefined) {
    if (e.S3_ACCESS_KEY === undefined) problems.push('S3_ACCESS_KEY: required with S3_ENDPOINT (not set)');
    if (e.S3_SECRET_KEY === undefined) problems.push('S3_SECRET_KEY: required with S3_ENDPOINT (not set)');
    objects = {
      mode: 's3',
      ...s3Address(e.S3_ENDPOINT),
      ...(e.S3_PUBLIC_ENDPOINT === undefined ? {} : { publicEndpoint: s3Address(e.S3_PUBLIC_ENDPOINT) }),
      accessKey: e.S3_ACCESS_KEY ?? '',
      secretKey: e.S3_SECRET_KEY ?? '',
      bucket: e.S3_BUCKET,
      region: e.S3_REGION,
      idleTimeoutMs: e.S3_TIMEOUT_MS,
    };
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const config: Config = {
    nodeId: e.NODE_ID,
    http: {
      host: e.HOST,
      port: e.PORT,
      trustProxy: e.TRUST_PROXY,
      corsOrigins: e.CORS_ORIGINS,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
    },
    publicUrl: (e.PUBLIC_URL ?? `http://127.0.0.1:${e.PORT}`).replace(/\/$/, ''),
    logLevel: e.LOG_LEVEL,
    dataDir,
    embeddedDefault: !external,
    jwtSecret: e.JWT_SECRET,
    metricsToken: e.METRICS_TOKEN,
    tokens: { accessTtlSeconds: e.ACCESS_TOKEN_TTL_SECONDS, refreshTtlSeconds: e.REFRESH_TOKEN_TTL_SECONDS },
    postgres:
      e.DATABASE_URL !== undefined
        ? { mode: 'external', url: e.DATABASE_URL }
        : { mode: 'embedded', dir: path.join(dataDir, 'postgres'), port: e.EMBEDDED_PG_PORT },
    redis:
      redisUrl !== undefined
        ? {
            mode: 'external',
            url: redisUrl,
            clusterNodes: e.REDIS_CLUSTER_NODES ?? [],
            lockUrls: e.LOCK_REDIS_URLS ?? [],
            keyPrefix: e.REDIS_NAMESPACE === undefined ? '' : `${e.REDIS_NAMESPACE}:`,
          }
        : { mode: 'memory' },
    vector:
      e.MILVUS_ADDRESS !== undefined
        ? {
            mode: 'milvus',
            address: e.MILVUS_ADDRESS,
            token: e.MILVUS_TOKEN,
            collection: e.MILVUS_COLLECTION,
            searchEf: e.MILVUS_SEARCH_EF,
          }
        : { mode: 'postgres', collection: e.MILVUS_COLLECTION, legacyDir: path.join(dataDir, 'vectors') },
    graph:
      e.NEO4J_URI !== undefined
        ? { mode: 'neo4j', uri: e.NEO4J_URI, user: e.NEO4J_USER, password: e.NEO4J_PASSWORD }
        : { mode: 'postgres' },
    parsing: { timeoutMs: e.PARSE_TIMEOUT_MS, maxMemoryMb: e.PARSE_MAX_MEMORY_MB },
    knowledge: {
      extractor: e.GRAPH_EXTRACTOR,
      maxEntitiesPerDocument: e.GRAPH_MAX_ENTITIES_PER_DOCUMENT,
      gds: e.GRAPH_GDS,
    },
    objects,
    embeddings: {
      url: e.EMBEDDINGS_URL,
      model: e.EMBEDDINGS_MODEL,
      apiKey: e.EMBEDDINGS_API_KEY,
      dim: e.EMBEDDING_DIM,
    },
    migrateOnStart: e.MIGRATE_ON_START,
    database: {
      poolMax: e.DB_POOL_MAX,
      timeouts: {
        statementMs: e.DB_STATEMENT_TIMEOUT_MS,
        lockMs: e.DB_LOCK_TIMEOUT_MS,
        idleInTransactionMs: e.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      },
      groupCommit: {
        maxBatch: e.GROUP_COMMIT_MAX_BATCH,
        maxWaitMs: e.GROUP_COMMIT_MAX_WAIT_MS,
        maxInFlight: e.GROUP_COMMIT_MAX_IN_FLIGHT,
        queueTimeoutMs: e.GROUP_COMMIT_QUEUE_TIMEOUT_MS,
      },
      partitions: { monthsAhead: e.PARTITION_MONTHS_AHEAD, retentionMonths: e.PARTITION_RETENTION_MONTHS },
    },
    rateLimits: {
      failMode: e.RATE_LIMIT_FAIL_MODE,
      sharedTimeoutMs: e.RATE_LIMIT_SHARED_TIMEOUT_MS,
      events: {
        'sys:ping': e.RATE_LIMIT_SYS_PING,
        'session:create': e.RATE_LIMIT_SESSION_CREATE,
        'session:join': e.RATE_LIMIT_SESSION_JOIN,
        'session:leave': e.RATE_LIMIT_SESSION_LEAVE,
        'session:list': e.RATE_LIMIT_SESSION_LIST,
        'session:update': e.RATE_LIMIT_SESSION_UPDATE,
        'session:delete': e.RATE_LIMIT_SESSION_DELETE,
        'turn:interrupt': e.RATE_LIMIT_TURN_INTERRUPT,
        'message:send': e.RATE_LIMIT_MESSAGE_SEND,
        'message:delta': e.RATE_LIMIT_MESSAGE_DELTA,
        'history:get': e.RATE_LIMIT_HISTORY_GET,
        'audio:start': e.RATE_LIMIT_AUDIO_START,
        'audio:chunk': e.RATE_LIMIT_AUDIO_CHUNK,
        'audio:end': e.RATE_LIMIT_AUDIO_END,
        'audio:abort': e.RATE_LIMIT_AUDIO_ABORT,
        'audio:url': e.RATE_LIMIT_AUDIO_URL,
        retrieve: e.RATE_LIMIT_RETRIEVE,
      },
      connections: e.RATE_LIMIT_CONNECTIONS,
      login: e.RATE_LIMIT_LOGIN,
      loginIp: e.RATE_LIMIT_LOGIN_IP,
      loginAccount: e.RATE_LIMIT_LOGIN_ACCOUNT,
      register: e.RATE_LIMIT_REGISTER,
      refresh: e.RATE_LIMIT_REFRESH,
      http: e.RATE_LIMIT_HTTP,
      socketInFlight: e.SOCKET_MAX_IN_FLIGHT,
    },
    passwordHashing: { concurrency: e.PASSWORD_HASH_CONCURRENCY, maxWaiting: e.PASSWORD_HASH_QUEUE },
    quotas: { documents: e.UPLOAD_QUOTA_DOCUMENTS, bytes: e.UPLOAD_QUOTA_BYTES },
    audio: {
      chunkMaxBytes: e.AUDIO_CHUNK_MAX_BYTES,
      streamMaxBytes: e.AUDIO_STREAM_MAX_BYTES,
      streamTimeoutMs: e.AUDIO_STREAM_TIMEOUT_MS,
      urlTtlSeconds: e.AUDIO_URL_TTL_SECONDS,
      streamsPerSocket: e.AUDIO_STREAMS_PER_SOCKET,
      streamsPerUser: e.AUDIO_STREAMS_PER_USER,
      nodeMaxBytes: e.AUDIO_BUFFER_MAX_BYTES,
      liveBufferFrames: e.LIVE_AUDIO_BUFFER_FRAMES,
    },
    outbound: {
      softLimitBytes: e.OUTBOUND_SOFT_LIMIT_BYTES,
      hardLimitBytes: e.OUTBOUND_HARD_LIMIT_BYTES,
      drainTimeoutMs: e.SLOW_CONSUMER_TIMEOUT_MS,
    },
    documents: {
      maxBytes: e.DOCUMENT_MAX_BYTES,
      maxConcurrentUploads: e.UPLOAD_MAX_CONCURRENT,
      maxConcurrentUploadsPerUser: e.UPLOAD_MAX_CONCURRENT_PER_USER,
      bodyIdleTimeoutMs: e.UPLOAD_IDLE_TIMEOUT_MS,
      minBytesPerSecond: e.UPLOAD_MIN_BYTES_PER_SECOND,
      concurrency: e.INGEST_CONCURRENCY,
      attempts: e.INGEST_ATTEMPTS,
      outageBudgetMs: e.INGEST_OUTAGE_BUDGET_MS,
      queue: e.INGEST_QUEUE,
      stalledMs: e.INGEST_STALLED_MS,
    },
    reconcile: { intervalMs: e.RECONCILE_INTERVAL_MS, graceMs: e.RECONCILE_GRACE_MS },
    backup: {
      target: e.BACKUP_TARGET,
      encryptionKey: e.BACKUP_ENCRYPTION_KEY,
      schedule: e.BACKUP_SCHEDULE,
      keepDays: e.BACKUP_KEEP_DAYS,
    },
    streams: {
      idleMs: e.STREAM_IDLE_MS,
      sweepMs: e.STREAM_SWEEP_MS,
      resumeGraceMs: e.STREAM_RESUME_GRACE_MS,
      nodeAliveMs: e.NODE_ALIVE_MS,
    },
    messages: { maxContentBytes: e.MESSAGE_MAX_BYTES, maxMetadataBytes: 16 * 1024 },
    privilegeSweepMs: e.PRIVILEGE_SWEEP_MS,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    dependencyTimeoutMs: e.DEPENDENCY_TIMEOUT_MS,
    retrieveTimeoutMs: e.RETRIEVE_TIMEOUT_MS,
    readinessOptional: new Set(e.READINESS_OPTIONAL),
  };
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
