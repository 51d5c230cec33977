import { type ClientEventName, payloadSchemas } from '../../protocol/schemas.js';

/** The stores a node depends on, as `/readyz` names them. */
export const dependencyNames = ['postgres', 'redis', 'vector', 'graph', 'objects'] as const;
export type DependencyName = (typeof dependencyNames)[number];

/** Client events with a per-user sliding-window limit: every one of them. */
export const rateLimitedEvents = Object.keys(payloadSchemas) as ClientEventName[];
export type RateLimitedEvent = ClientEventName;

/** Limits counted in fixed windows (rate-limiter-flexible), or per user over HTTP. */
export const fixedLimits = ['connections', 'login', 'loginIp', 'loginAccount', 'register', 'refresh', 'http'] as const;
export type FixedLimit = (typeof fixedLimits)[number];

export type PostgresConfig = { mode: 'external'; url: string } | { mode: 'embedded'; dir: string; port: number };

export type RedisConfig =
  /**
   * `clusterNodes`: seed nodes of a Redis Cluster (REDIS_CLUSTER_NODES; `url` is then the
   * first of them); empty: one Redis at `url`. `lockUrls`: independent masters for Redlock's
   * majority (LOCK_REDIS_URLS); empty: locks on the main Redis. `keyPrefix`: what every key
   * and channel starts with (`<REDIS_NAMESPACE>:`, or empty).
   */
  | {
      mode: 'external';
      url: string;
      clusterNodes: readonly string[];
      lockUrls: readonly string[];
      keyPrefix: string;
    }
  | { mode: 'memory' };

export type VectorConfig =
  | { mode: 'milvus'; address: string; token: string | undefined; collection: string; searchEf: number }
  /** Embeddings in PostgreSQL, searched in memory on each node; `legacyDir` may hold an older in-process snapshot to import. */
  | { mode: 'postgres'; collection: string; legacyDir: string };

export type GraphConfig =
  | {
      mode: 'neo4j';
      uri: string;
      user: string;
      password: string | undefined;
      /** How long a query is retried on a transient failure or a lost connection (NEO4J_RETRY_MS). */
      retryMs: number;
    }
  | { mode: 'postgres' };

/** Host, port and scheme of an S3 endpoint. */
export interface S3Address {
  endPoint: string;
  port: number;
  useSSL: boolean;
}

/**
 * The reference assistant this node starts and supervises (ASSISTANT): `on` with the
 * Python it runs on (ASSISTANT_PYTHON) and the agent it serves; `off`; or `unavailable`,
 * wanted by default (the embedded default) but without a Python to run it on.
 */
export type AssistantConfig =
  | { mode: 'on'; python: string; agent: string }
  | { mode: 'off' }
  | { mode: 'unavailable'; agent: string };

export type ObjectsConfig =
  | {
      mode: 's3';
      endPoint: string;
      port: number;
      useSSL: boolean;
      accessKey: string;
      secretKey: string;
      bucket: string;
      region: string;
      /** A request that receives nothing for this long fails. */
      idleTimeoutMs: number;
      /** Where clients reach S3, when not at `endPoint` (S3_PUBLIC_ENDPOINT): presigned URLs name it. */
      publicEndpoint?: S3Address;
    }
  | { mode: 'fs'; dir: string; bucket: string };

/** The validated, frozen configuration of one node. Built only by `loadConfig`. */
export interface Config {
  /** Name of this node in logs, metrics and cluster messages. */
  readonly nodeId: string;
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Proxies whose `X-Forwarded-For` is believed (addresses, CIDRs or proxy-addr names). */
    readonly trustProxy: readonly string[];
    /** Other origins browsers may call from (`*`: any). */
    readonly corsOrigins: readonly string[];
    /** Deadlines of HTTP connections (ms). */
    readonly requestTimeoutMs: number;
    readonly headersTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
  };
  /** Base URL of this node as clients see it (presigned URLs of the embedded object store). */
  readonly publicUrl: string;
  readonly logLevel: string;
  /** Absolute directory for embedded data and local secrets. */
  readonly dataDir: string;
  /** True when every store runs embedded (the `npm start` default). */
  readonly embeddedDefault: boolean;
  /** HS256 key; undefined only on the embedded default, where a key is generated under dataDir. */
  readonly jwtSecret: string | undefined;
  /** What `GET /metrics` asks for as a bearer token; undefined: nothing (metrics are public). */
  readonly metricsToken: string | undefined;
  /** OpenTelemetry spans over OTLP/HTTP; off without an endpoint. */
  readonly tracing: {
    readonly endpoint: string | undefined;
    readonly serviceName: string;
    readonly sampleRatio: number;
    readonly exportDelayMs: number;
  };
  /** Token lifetimes in seconds. */
  readonly tokens: { readonly accessTtlSeconds: number; readonly refreshTtlSeconds: number };
  readonly postgres: PostgresConfig;
  readonly redis: RedisConfig;
  readonly vector: VectorConfig;
  readonly graph: GraphConfig;
  /** Entity extraction and graph algorithms. */
  readonly knowledge: {
    readonly extractor: 'keywords' | 'none';
    readonly maxEntitiesPerDocument: number;
    readonly gds: 'auto' | 'off';
  };
  /** The document parsing threads: how many, how many requests wait, and each one's limits. */
  readonly parsing: {
    readonly threads: number;
    readonly maxQueue: number;
    readonly timeoutMs: number;
    readonly maxMemoryMb: number;
  };
  readonly objects: ObjectsConfig;
  readonly embeddings: {
    readonly url: string | undefined;
    readonly model: string;
    readonly apiKey: string | undefined;
    readonly dim: number;
  };
  readonly migrateOnStart: boolean;
  /** PostgreSQL pool size, group commit and partition settings. */
  readonly database: {
    readonly poolMax: number;
    /** Server-side deadlines of every session (ms). */
    readonly timeouts: { readonly statementMs: number; readonly lockMs: number; readonly idleInTransactionMs: number };
    readonly groupCommit: {
      readonly maxBatch: number;
      readonly maxWaitMs: number;
      readonly maxInFlight: number;
      readonly queueTimeoutMs: number;
    };
    readonly partitions: { readonly monthsAhead: number; readonly retentionMonths: number };
  };
  /** Rate limits (PROTOCOL section 8); the event limits can be overridden at run time in system_configs. */
  readonly rateLimits: {
    readonly failMode: 'open' | 'closed';
    /** How long a check in Redis may take before `failMode` applies (RATE_LIMIT_SHARED_TIMEOUT_MS). */
    readonly sharedTimeoutMs: number;
    readonly events: Readonly<Record<RateLimitedEvent, { readonly limit: number; readonly windowMs: number }>>;
    readonly connections: { readonly limit: number; readonly windowMs: number };
    /** Logins per IP and email. */
    readonly login: { readonly limit: number; readonly windowMs: number };
    /** Logins per IP, whatever the email. */
    readonly loginIp: { readonly limit: number; readonly windowMs: number };
    /** Failed sign-ins per account (email), from any address, on any node. */
    readonly loginAccount: { readonly limit: number; readonly windowMs: number };
    /** Registrations per IP. */
    readonly register: { readonly limit: number; readonly windowMs: number };
    /** Token refreshes and logouts per IP. */
    readonly refresh: { readonly limit: number; readonly windowMs: number };
    /** Authenticated HTTP requests per user. */
    readonly http: { readonly limit: number; readonly windowMs: number };
    /** Events of one socket handled at once. */
    readonly socketInFlight: number;
  };
  /** Argon2id work: at once, and waiting at most. */
  readonly passwordHashing: { readonly concurrency: number; readonly maxWaiting: number };
  /** What one user may keep in documents. */
  readonly quotas: { readonly documents: number; readonly bytes: number };
  /** Voice audio limits (PROTOCOL section 5). */
  readonly audio: {
    readonly chunkMaxBytes: number;
    readonly streamMaxBytes: number;
    readonly streamTimeoutMs: number;
    readonly urlTtlSeconds: number;
    readonly streamsPerSocket: number;
    readonly streamsPerUser: number;
    readonly nodeMaxBytes: number;
    /** Live frames held for a socket that does not read them (LIVE_AUDIO_BUFFER_FRAMES). */
    readonly liveBufferFrames: number;
  };
  /** What one socket may have waiting to be written to it. */
  readonly outbound: {
    readonly softLimitBytes: number;
    readonly hardLimitBytes: number;
    readonly drainTimeoutMs: number;
  };
  /** Document uploads and ingestion. */
  readonly documents: {
    readonly maxBytes: number;
    /** Uploads received at once by this node. */
    readonly maxConcurrentUploads: number;
    /** Uploads received at once by this node for one user. */
    readonly maxConcurrentUploadsPerUser: number;
    /** An upload body that brings nothing for this long is cut (408); also the window of `minBytesPerSecond`. */
    readonly bodyIdleTimeoutMs: number;
    /** Least rate of an upload body over each `bodyIdleTimeoutMs` (0: none). */
    readonly minBytesPerSecond: number;
    readonly concurrency: number;
    readonly attempts: number;
    /** How long a job waits out a dependency outage before its failures count as attempts. */
    readonly outageBudgetMs: number;
    readonly queue: string;
    readonly stalledMs: number;
  };
  /** The storage reconciler (stuck documents, unfinished deletes, orphaned objects). */
  readonly reconcile: { readonly intervalMs: number; readonly graceMs: number };
  /** Backups: default location, encryption passphrase, daily schedule (`HH:MM` UTC) and retention of scheduled ones. */
  readonly backup: {
    readonly target: string | undefined;
    readonly encryptionKey: string | undefined;
    readonly schedule: string | undefined;
    readonly keepDays: number;
  };
  /** Interrupted-turn detection. */
  readonly streams: {
    readonly idleMs: number;
    readonly sweepMs: number;
    readonly resumeGraceMs: number;
    readonly nodeAliveMs: number;
  };
  /** Assistant dispatch (protocol v7). */
  readonly agents: {
    /** The agent of sessions created without one (DEFAULT_AGENT); undefined: none. */
    readonly defaultAgent: string | undefined;
    /** A session whose worker went away has another within this long (AGENT_REDISPATCH_MS). */
    readonly redispatchMs: number;
  };
  /** The reference assistant this node starts, if any (ASSISTANT, ASSISTANT_PYTHON). */
  readonly assistant: AssistantConfig;
  /** Message size limits (PROTOCOL section 4). */
  readonly messages: { readonly maxContentBytes: number; readonly maxMetadataBytes: number };
  /**
   * How often each node reads the changes of access from PostgreSQL and re-checks its
   * sockets (the privilege sweep): the longest a change takes to reach a node that was not
   * told of it.
   */
  readonly privilegeSweepMs: number;
  readonly shutdownTimeoutMs: number;
  readonly dependencyTimeoutMs: number;
  /** Longest the two halves of one retrieval may take together; a half still running then degrades. */
  readonly retrieveTimeoutMs: number;
  /** Dependencies that do not fail `/readyz` when down. */
  readonly readinessOptional: ReadonlySet<DependencyName>;
}
