import { hostname } from 'node:os';
import proxyAddr from '@fastify/proxy-addr';
import { z } from 'zod';

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

export const dependencyNames = ['postgres', 'redis', 'vector', 'graph', 'objects'] as const;
export type DependencyName = (typeof dependencyNames)[number];

/**
 * One entry per environment variable (PROTOCOL section 9 plus operational settings).
 * Each is parsed on its own so that every bad variable gets its own one-line error.
 */
export const envSchema = {
  /** HTTP and Socket.IO port. Default 3000. */
  PORT: port(3000),
  /** Interface to listen on. Default 0.0.0.0. */
  HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
  /**
   * Base URL clients use to reach this node; presigned URLs of the embedded object store
   * point here. Default `http://127.0.0.1:<PORT>`.
   */
  PUBLIC_URL: urlWithScheme(['http', 'https'], 'https://voice.example.com'),
  /** Name of this node in logs, metrics and cluster messages. Default `<hostname>-<pid>`. */
  NODE_ID: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'expected 1-64 letters, digits, dots, dashes or underscores')
      .default(`${hostname()}-${process.pid}`.slice(0, 64).replace(/[^A-Za-z0-9._-]/g, '-')),
  ),
  /**
   * HS256 key for access tokens, at least 32 characters, neither weak nor published (see
   * `secretProblems`). Required when any external store is set.
   */
  JWT_SECRET: z.preprocess(emptyToUndefined, z.string().min(32, 'expected at least 32 characters').optional()),
  /**
   * Bearer token `GET /metrics` asks for (`Authorization: Bearer <token>`), at least 32
   * characters, neither weak nor published. Unset: metrics are public.
   */
  METRICS_TOKEN: z.preprocess(emptyToUndefined, z.string().min(32, 'expected at least 32 characters').optional()),
  /** Lifetime of access tokens in seconds. Default 900. */
  ACCESS_TOKEN_TTL_SECONDS: positiveInt(900, 86_400),
  /** Lifetime of refresh tokens in seconds. Default 2592000 (30 days). */
  REFRESH_TOKEN_TTL_SECONDS: positiveInt(2_592_000, 31_536_000),
  /** PostgreSQL connection string. Unset: embedded PostgreSQL under DATA_DIR/postgres. */
  DATABASE_URL: urlWithScheme(['postgres', 'postgresql'], 'postgres://user:pass@host:5432/db'),
  /** Redis connection string. Unset: in-process equivalents (single node only). */
  REDIS_URL: urlWithScheme(['redis', 'rediss'], 'redis://host:6379'),
  /**
   * Independent Redis masters for cluster locks, comma-separated (Redlock: a majority grants a
   * lease; use 3 or 5). Unset: locks on REDIS_URL alone. Fencing counters stay on REDIS_URL.
   */
  LOCK_REDIS_URLS: redisUrlList,
  /**
   * Seed nodes of a Redis Cluster, comma-separated redis:// URLs (the first one's credentials
   * are used for every node). Instead of REDIS_URL: every use of Redis then runs on the
   * cluster (sharded pub/sub for broadcasts, hash-tagged keys for scripts and the queue).
   */
  REDIS_CLUSTER_NODES: redisUrlList,
  /**
   * A namespace of this deployment in a Redis that others share: every key and channel it
   * uses starts with `<namespace>:`. Unset: no prefix (the keys of earlier versions).
   */
  REDIS_NAMESPACE: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1 to 64 letters, digits, underscores or hyphens')
      .optional(),
  ),
  /** Milvus gRPC address. Unset: embeddings in PostgreSQL, searched in memory on every node. */
  MILVUS_ADDRESS: milvusAddress,
  /** Milvus token (`user:password` or an API key). */
  MILVUS_TOKEN: optionalString,
  /** Collection holding chunk embeddings (in Milvus, or in PostgreSQL without it). Default `document_chunks`. */
  /** HNSW `ef` of Milvus searches (at least topK): higher finds more of the true nearest chunks, slower. Default 64. */
  MILVUS_SEARCH_EF: positiveInt(64, 32_768),
  MILVUS_COLLECTION: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,254}$/, 'expected a Milvus collection name (letters, digits, underscores)')
      .default('document_chunks'),
  ),
  /** Neo4j Bolt URI. Unset: a graph kept in PostgreSQL. */
  NEO4J_URI: urlWithScheme(['bolt', 'bolt+s', 'bolt+ssc', 'neo4j', 'neo4j+s', 'neo4j+ssc'], 'bolt://host:7687'),
  /** Neo4j user. Default `neo4j`. */
  NEO4J_USER: z.preprocess(emptyToUndefined, z.string().default('neo4j')),
  /** Neo4j password. */
  NEO4J_PASSWORD: optionalString,
  /** S3 endpoint (MinIO or any S3). Unset: a directory under DATA_DIR/objects. */
  S3_ENDPOINT: urlWithScheme(['http', 'https'], 'http://host:9000'),
  /**
   * Where clients reach S3 when it is not at S3_ENDPOINT (behind a proxy, or compose, where
   * nodes use http://minio:9000 and browsers http://localhost:9000): presigned URLs are
   * signed for this address. Default: S3_ENDPOINT.
   */
  S3_PUBLIC_ENDPOINT: urlWithScheme(['http', 'https'], 'http://host:9000'),
  /** S3 access key (required with S3_ENDPOINT). */
  S3_ACCESS_KEY: optionalString,
  /** S3 secret key (required with S3_ENDPOINT). */
  S3_SECRET_KEY: optionalString,
  /** S3 bucket, created at start if missing. Default `voicehelper`. */
  S3_BUCKET: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected a valid S3 bucket name')
      .default('voicehelper'),
  ),
  /** An S3 request that receives nothing for this long fails with UNAVAILABLE. Default 30000 ms. */
  S3_TIMEOUT_MS: positiveInt(30_000, 3_600_000),
  /** S3 region. Default `us-east-1`. */
  S3_REGION: z.preprocess(emptyToUndefined, z.string().default('us-east-1')),
  /** Optional OpenAI-compatible embeddings endpoint. Unset: the built-in local embedder. */
  EMBEDDINGS_URL: urlWithScheme(['http', 'https'], 'http://host:8080/v1'),
  /** Model name sent to EMBEDDINGS_URL. Default `text-embedding-3-small`. */
  EMBEDDINGS_MODEL: z.preprocess(emptyToUndefined, z.string().max(200).default('text-embedding-3-small')),
  /** Bearer key for EMBEDDINGS_URL, if it needs one. */
  EMBEDDINGS_API_KEY: optionalString,
  /** Embedding dimension. Default 1024. */
  EMBEDDING_DIM: positiveInt(1024, 32768),
  /** Where embedded stores keep their data. Default `./data`. */
  DATA_DIR: z.preprocess(emptyToUndefined, z.string().default('./data')),
  /** Port of the embedded PostgreSQL (loopback only). Default 54329. */
  EMBEDDED_PG_PORT: port(54329),
  /** pino level. Default `info`. */
  LOG_LEVEL: z.preprocess(
    emptyToUndefined,
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  /** Connections of this node's PostgreSQL pool. Default 20. */
  DB_POOL_MAX: positiveInt(20, 1000),
  /** Longest one SQL statement may run (server side; the client gives up 5 s later). Default 30000 ms. */
  DB_STATEMENT_TIMEOUT_MS: positiveInt(30_000, 3_600_000),
  /** Longest a statement waits for a lock. Default 5000 ms. */
  DB_LOCK_TIMEOUT_MS: positiveInt(5_000, 3_600_000),
  /** A session idle inside a transaction this long is ended by the server. Default 60000 ms. */
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: positiveInt(60_000, 3_600_000),
  /** A message still waiting for its group-commit batch this long is answered UNAVAILABLE and never written. Default 5000 ms. */
  GROUP_COMMIT_QUEUE_TIMEOUT_MS: positiveInt(5_000, 600_000),
  /** Most messages committed in one transaction. Default 256. */
  GROUP_COMMIT_MAX_BATCH: positiveInt(256, 10_000),
  /** Longest a message waits for companions before its batch is sent, in ms. Default 2. */
  GROUP_COMMIT_MAX_WAIT_MS: nonNegativeInt(2, 1_000),
  /** Message batches committed at once (each holds a connection). Default 4. */
  GROUP_COMMIT_MAX_IN_FLIGHT: positiveInt(4, 100),
  /** Monthly partitions created ahead of the current month. Default 3. */
  PARTITION_MONTHS_AHEAD: nonNegativeInt(3, 60),
  /** Whole months of messages and audit logs kept before the current one; 0 keeps all. Default 0. */
  PARTITION_RETENTION_MONTHS: nonNegativeInt(0, 1_200),
  /** Largest message `content` in UTF-8 bytes. Default 32768. */
  MESSAGE_MAX_BYTES: positiveInt(32_768, 1_048_576),
  /** An open stream with no delta for this long is committed as an interrupted turn. Default 30000 ms. */
  STREAM_IDLE_MS: positiveInt(30_000, 3_600_000),
  /** A stream whose socket went away is committed as interrupted only if its owner has not continued it within this long. Default 5000 ms. */
  STREAM_RESUME_GRACE_MS: positiveInt(5_000, 600_000),
  /** How often open streams, dead nodes and presence are checked. Default 2000 ms. */
  STREAM_SWEEP_MS: positiveInt(2_000, 60_000),
  /**
   * How often each node reads from PostgreSQL the changes of access it may not have been told
   * of (roles, status, logouts, revoked keys: made by another node or the CLI), and re-checks
   * its sockets (user, role, family, token expiry). At most 60000: changes reach every node
   * within a minute. Default 15000 ms.
   */
  PRIVILEGE_SWEEP_MS: positiveInt(15_000, 60_000),
  /** A node that has not heart-beaten for this long counts as dead (its presence and streams are cleaned up). Default 15000 ms. */
  NODE_ALIVE_MS: positiveInt(15_000, 600_000),
  /** What a node does when Redis cannot be reached for rate limiting: `open` (limit per node in memory) or `closed` (refuse with UNAVAILABLE). Default open. */
  RATE_LIMIT_FAIL_MODE: z.preprocess(emptyToUndefined, z.enum(['open', 'closed']).default('open')),
  /** How long one check in Redis may take before RATE_LIMIT_FAIL_MODE applies to it. Default 250 ms. */
  RATE_LIMIT_SHARED_TIMEOUT_MS: positiveInt(250, 60_000),
  /** `message:send` per user, as `<count>/<window>` (window in ms, or with s/m/h). Default 20/10s. */
  RATE_LIMIT_MESSAGE_SEND: limitRule('20/10s'),
  /** `message:delta` per user. Default 200/10s. */
  RATE_LIMIT_MESSAGE_DELTA: limitRule('200/10s'),
  /** `audio:chunk` per user. Default 400/10s. */
  RATE_LIMIT_AUDIO_CHUNK: limitRule('400/10s'),
  /** `retrieve` per user. Default 10/10s. */
  RATE_LIMIT_RETRIEVE: limitRule('10/10s'),
  /** `sys:ping` per user. Default 60/10s. */
  RATE_LIMIT_SYS_PING: limitRule('60/10s'),
  /** `session:create` per user. Default 30/60s. */
  RATE_LIMIT_SESSION_CREATE: limitRule('30/60s'),
  /** `session:join` per user (a reconnecting client rejoins every session it had). Default 120/60s. */
  RATE_LIMIT_SESSION_JOIN: limitRule('120/60s'),
  /** `session:leave` per user. Default 120/60s. */
  RATE_LIMIT_SESSION_LEAVE: limitRule('120/60s'),
  /** `session:list` per user. Default 60/60s. */
  RATE_LIMIT_SESSION_LIST: limitRule('60/60s'),
  /** `session:update` per user. Default 60/60s. */
  RATE_LIMIT_SESSION_UPDATE: limitRule('60/60s'),
  /** `session:delete` per user. Default 30/60s. */
  RATE_LIMIT_SESSION_DELETE: limitRule('30/60s'),
  /** `turn:interrupt` per user. Default 60/60s. */
  RATE_LIMIT_TURN_INTERRUPT: limitRule('60/60s'),
  /** `history:get` per user. Default 120/60s. */
  RATE_LIMIT_HISTORY_GET: limitRule('120/60s'),
  /** `audio:start` per user. Default 60/60s. */
  RATE_LIMIT_AUDIO_START: limitRule('60/60s'),
  /** `audio:end` per user. Default 60/60s. */
  RATE_LIMIT_AUDIO_END: limitRule('60/60s'),
  /** `audio:url` per user. Default 120/60s. */
  RATE_LIMIT_AUDIO_URL: limitRule('120/60s'),
  /** Authenticated HTTP requests per user (every route but health, metrics and auth, which have their own). Default 600/60s. */
  RATE_LIMIT_HTTP: limitRule('600/60s'),
  /** `POST /v1/auth/register` per IP (fixed window). Default 10/1h. */
  RATE_LIMIT_REGISTER: limitRule('10/1h'),
  /** `POST /v1/auth/refresh` and `POST /v1/auth/logout` per IP, together (fixed window). Default 60/60s. */
  RATE_LIMIT_REFRESH: limitRule('60/60s'),
  /** `POST /v1/auth/login` per IP across all emails (password spraying; fixed window, then blocked for one window). Default 30/60s. */
  RATE_LIMIT_LOGIN_IP: limitRule('30/60s'),
  /**
   * Failed sign-ins per account (email) from any address, counted by all nodes together (in
   * Redis when configured): login, and a wrong current password at `PUT /v1/users/me/password`
   * and `DELETE /v1/users/me`. Past it, every sign-in of the account is refused with 429
   * until the window ends (fixed window). Default 20/15m.
   */
  RATE_LIMIT_LOGIN_ACCOUNT: limitRule('20/15m'),
  /** Password hashes (Argon2id) computed at once by one node. Default 2. */
  PASSWORD_HASH_CONCURRENCY: positiveInt(2, 64),
  /** Password hashes waiting for a slot; more are refused with RATE_LIMITED. Default 64. */
  PASSWORD_HASH_QUEUE: positiveInt(64, 100_000),
  /** Events of one socket being handled at once; more are refused with RATE_LIMITED. Default 32. */
  SOCKET_MAX_IN_FLIGHT: positiveInt(32, 10_000),
  /** Document uploads received at once by one node; more are refused with RATE_LIMITED. Default 8. */
  UPLOAD_MAX_CONCURRENT: positiveInt(8, 1_000),
  /** Document uploads one user may have in flight on one node; more are refused with RATE_LIMITED. Default 2. */
  UPLOAD_MAX_CONCURRENT_PER_USER: positiveInt(2, 1_000),
  /**
   * An upload whose body sends nothing for this long is cut with 408 and frees its slot; also
   * the window UPLOAD_MIN_BYTES_PER_SECOND is averaged over. Default 10000 ms.
   */
  UPLOAD_IDLE_TIMEOUT_MS: positiveInt(10_000, 600_000),
  /**
   * Least rate of an upload body, averaged over each UPLOAD_IDLE_TIMEOUT_MS while the server
   * waits for it; a slower one is cut with 408. 0: no least rate. Default 4096.
   */
  UPLOAD_MIN_BYTES_PER_SECOND: nonNegativeInt(4_096, 1024 * 1024 * 1024),
  /** Documents one user may keep. Default 1000. */
  UPLOAD_QUOTA_DOCUMENTS: positiveInt(1_000, 100_000_000),
  /** Bytes of documents one user may keep. Default 1073741824 (1 GiB). */
  UPLOAD_QUOTA_BYTES: positiveInt(1024 * 1024 * 1024, Number.MAX_SAFE_INTEGER),
  /** New Socket.IO connections per IP (fixed window). Default 30/60s. */
  RATE_LIMIT_CONNECTIONS: limitRule('30/60s'),
  /** `POST /v1/auth/login` per IP and email (fixed window, then blocked for the window). Default 10/60s. */
  RATE_LIMIT_LOGIN: limitRule('10/60s'),
  /**
   * Proxies whose `X-Forwarded-For` gives the client's address: addresses or CIDRs, comma
   * separated, or `loopback`, `linklocal`, `uniquelocal`. Default: none (the peer's own address).
   */
  TRUST_PROXY: z.preprocess(
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
  /** Browser origins allowed besides the node's own, comma separated (`*` for any). Default: same origin only. */
  CORS_ORIGINS: z.preprocess(
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
  /** Largest `audio:chunk` in bytes. Default 65536. */
  AUDIO_CHUNK_MAX_BYTES: positiveInt(65_536, 1_000_000),
  /** Largest audio stream in bytes. Default 10485760 (10 MiB). */
  AUDIO_STREAM_MAX_BYTES: positiveInt(10 * 1024 * 1024, 100 * 1024 * 1024),
  /** An audio stream with no chunk for this long is discarded. Default 60000 ms. */
  AUDIO_STREAM_TIMEOUT_MS: positiveInt(60_000, 3_600_000),
  /** Audio streams open at once on one socket. Default 4. */
  AUDIO_STREAMS_PER_SOCKET: positiveInt(4, 1_000),
  /** Audio streams open at once for one user on one node. Default 8. */
  AUDIO_STREAMS_PER_USER: positiveInt(8, 10_000),
  /** Audio bytes one node buffers over all open streams. Default 268435456 (256 MiB). */
  AUDIO_BUFFER_MAX_BYTES: positiveInt(256 * 1024 * 1024, Number.MAX_SAFE_INTEGER),
  /** A socket is sent more catch-up history only while fewer bytes than this wait to be written to it. Default 1048576. */
  OUTBOUND_SOFT_LIMIT_BYTES: positiveInt(1024 * 1024, Number.MAX_SAFE_INTEGER),
  /** A socket with more bytes than this waiting to be written is a slow consumer and is disconnected. Default 16777216. */
  OUTBOUND_HARD_LIMIT_BYTES: positiveInt(16 * 1024 * 1024, Number.MAX_SAFE_INTEGER),
  /** How long a catch-up waits for a socket to drain before it counts as a slow consumer. Default 30000 ms. */
  SLOW_CONSUMER_TIMEOUT_MS: positiveInt(30_000, 600_000),
  /** Lifetime of `audio:url` links in seconds. Default 900. */
  AUDIO_URL_TTL_SECONDS: positiveInt(900, 7 * 86_400),
  /** Largest document upload in bytes. Default 52428800 (50 MiB). */
  DOCUMENT_MAX_BYTES: positiveInt(50 * 1024 * 1024, 1024 * 1024 * 1024),
  /** Documents ingested at once per node. Default 2. */
  INGEST_CONCURRENCY: positiveInt(2, 64),
  /** Name of the ingestion queue; every node of one cluster must use the same. Default `vh-ingest`. */
  INGEST_QUEUE: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected 1-64 letters, digits, - or _')
      .default('vh-ingest'),
  ),
  /** A job whose worker stopped renewing it for this long is taken over by another node. Default 30000 ms. */
  INGEST_STALLED_MS: positiveInt(30_000, 600_000),
  /** How often the storage reconciler runs (one node at a time): stuck documents, unfinished deletes, orphaned objects. Default 300000 ms. */
  RECONCILE_INTERVAL_MS: positiveInt(300_000, 86_400_000),
  /** What the reconciler leaves alone: anything younger than this. Default 600000 ms. */
  RECONCILE_GRACE_MS: positiveInt(600_000, 7 * 86_400_000),
  /** Where `voicehelper backup` and scheduled backups write: a directory or `s3://bucket/prefix`. Unset: no default. */
  BACKUP_TARGET: optionalString,
  /** Passphrase that encrypts backups (AES-256-GCM, key by scrypt); backups hold password and key hashes. Unset: not encrypted. */
  BACKUP_ENCRYPTION_KEY: z.preprocess(
    emptyToUndefined,
    z.string().min(16, 'expected at least 16 characters').optional(),
  ),
  /** Daily backup time on the server, `HH:MM` UTC (one node of the cluster takes it, to BACKUP_TARGET). Unset: no schedule. */
  BACKUP_SCHEDULE: z.preprocess(
    emptyToUndefined,
    z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected HH:MM (UTC)')
      .optional(),
  ),
  /** Scheduled backups older than this many days are pruned after each scheduled run. Default 30. */
  BACKUP_KEEP_DAYS: positiveInt(30, 3650),
  /** Attempts per ingestion job before the document is marked failed. Default 3. */
  INGEST_ATTEMPTS: positiveInt(3, 20),
  /**
   * How long an ingestion job waits out a store that is down (PostgreSQL, Redis, S3, Milvus,
   * Neo4j unreachable) before such failures count as attempts. Default 600000 ms.
   */
  INGEST_OUTAGE_BUDGET_MS: positiveInt(600_000, 86_400_000),
  /** Longest one document parse (or batch of built-in embeddings) may run before its worker is replaced. Default 120000 ms. */
  PARSE_TIMEOUT_MS: positiveInt(120_000, 3_600_000),
  /** Heap of the document parsing worker in MiB. Default 1024. */
  PARSE_MAX_MEMORY_MB: positiveInt(1_024, 65_536),
  /** Longest an HTTP request may take to arrive whole (uploads included). Default 300000 ms. */
  HTTP_REQUEST_TIMEOUT_MS: positiveInt(300_000, 3_600_000),
  /** Longest a client may take to send a request's headers. Default 10000 ms. */
  HTTP_HEADERS_TIMEOUT_MS: positiveInt(10_000, 600_000),
  /** How long an idle keep-alive HTTP connection stays open. Default 5000 ms. */
  HTTP_KEEPALIVE_TIMEOUT_MS: positiveInt(5_000, 600_000),
  /** Entity extraction during ingestion: `keywords` (built in, English and Chinese) or `none`. Default `keywords`. */
  GRAPH_EXTRACTOR: z.preprocess(emptyToUndefined, z.enum(['keywords', 'none']).default('keywords')),
  /** Most entities kept per document (the most confident). Default 100. */
  GRAPH_MAX_ENTITIES_PER_DOCUMENT: positiveInt(100, 1_000),
  /** Graph algorithms through Neo4j's Graph Data Science plugin when it is installed (`auto`), or always in process (`off`). Default `auto`. */
  GRAPH_GDS: z.preprocess(emptyToUndefined, z.enum(['auto', 'off']).default('auto')),
  /** Apply migrations at start under a database lock. Default true. */
  MIGRATE_ON_START: bool(true),
  /** How long SIGTERM may take to drain before the node exits anyway. Default 10000 ms. */
  SHUTDOWN_TIMEOUT_MS: positiveInt(10_000),
  /**
   * Longest the vector and the graph halves of one `retrieve` may take together: a half
   * still running when it is spent is left empty and named in `degraded`, as when its store
   * fails. Default 3000 ms.
   */
  RETRIEVE_TIMEOUT_MS: positiveInt(3_000, 600_000),
  /** Timeout of one readiness probe per dependency (start waits 5x this for the vector index and graph). Default 2000 ms. */
  DEPENDENCY_TIMEOUT_MS: positiveInt(2_000),
  /**
   * Dependencies whose failure does not make `/readyz` return 503, comma separated.
   * Default `vector,graph`: retrieval degrades gracefully without them (PROTOCOL section 6).
   */
  READINESS_OPTIONAL: z.preprocess(
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
        z.array(z.enum(dependencyNames, { error: `expected a comma-separated list of ${dependencyNames.join(', ')}` })),
      ),
  ),
} as const;

export type EnvSchema = typeof envSchema;
export type ParsedEnv = { [K in keyof EnvSchema]: z.output<EnvSchema[K]> };
