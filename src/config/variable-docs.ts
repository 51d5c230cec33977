/**
 * What each environment variable means, as docs/configuration.md shows it (rendered by
 * `npm run docs:config`; a test fails when the file is stale or when a variable of the
 * schema is missing here or one here is not in the schema).
 */
export const variableDocs: readonly { names: readonly string[]; default: string; meaning: string }[] = [
  { names: ['PORT'], default: '`3000`', meaning: 'HTTP and Socket.IO port' },
  { names: ['HOST'], default: '`0.0.0.0`', meaning: 'interface to listen on' },
  { names: ['NODE_ID'], default: '`<hostname>-<pid>`', meaning: 'node name in logs, metrics and cluster messages' },
  {
    names: ['PUBLIC_URL'],
    default: '`http://127.0.0.1:<PORT>`',
    meaning: 'base URL clients use; embedded presigned URLs point here',
  },
  {
    names: ['JWT_SECRET'],
    default: 'generated under `DATA_DIR/secrets` on the embedded default',
    meaning:
      'HS256 key for access tokens (≥ 32 chars, ≥ 10 different ones, about 100 bits or more, not a published default: `openssl rand -base64 48`); required once `DATABASE_URL`, `REDIS_URL` or `REDIS_CLUSTER_NODES` is set',
  },
  {
    names: ['METRICS_TOKEN'],
    default: 'none (`/metrics` is public)',
    meaning:
      'bearer token `GET /metrics` asks for (401 without it); ≥ 32 chars, neither weak nor published (`openssl rand -base64 48`)',
  },
  { names: ['ACCESS_TOKEN_TTL_SECONDS'], default: '`900`', meaning: 'lifetime of access tokens' },
  { names: ['REFRESH_TOKEN_TTL_SECONDS'], default: '`2592000`', meaning: 'lifetime of refresh tokens (30 days)' },
  { names: ['DATABASE_URL'], default: 'embedded PostgreSQL', meaning: 'PostgreSQL connection string' },
  { names: ['EMBEDDED_PG_PORT'], default: '`54329`', meaning: 'loopback port of the embedded PostgreSQL' },
  { names: ['REDIS_URL'], default: 'in-process (one node only)', meaning: 'Redis connection string' },
  {
    names: ['REDIS_CLUSTER_NODES'],
    default: 'one Redis at `REDIS_URL`',
    meaning: 'comma-separated seed URLs of a Redis Cluster, instead of `REDIS_URL` ([scale-out](scale-out.md))',
  },
  {
    names: ['REDIS_NAMESPACE'],
    default: 'none',
    meaning:
      'what every Redis key and channel of this deployment starts with (`<namespace>:`), to share a Redis with other deployments',
  },
  {
    names: ['LOCK_REDIS_URLS'],
    default: 'locks on `REDIS_URL`',
    meaning: 'comma-separated independent Redis masters for cluster locks (Redlock majority)',
  },
  {
    names: ['MILVUS_ADDRESS', 'MILVUS_TOKEN'],
    default: 'embeddings in PostgreSQL, searched in memory on every node',
    meaning: 'Milvus gRPC `host:port`, optional token',
  },
  {
    names: ['MILVUS_SEARCH_EF'],
    default: '`64`',
    meaning:
      'HNSW `ef` of Milvus searches (raised to `topK`): higher finds more of the exact nearest chunks and costs time; see the retrieval benchmark',
  },
  {
    names: ['MILVUS_COLLECTION'],
    default: '`document_chunks`',
    meaning: 'collection holding chunk embeddings (in Milvus, or in PostgreSQL without it)',
  },
  {
    names: ['NEO4J_URI', 'NEO4J_USER', 'NEO4J_PASSWORD'],
    default: 'graph tables in PostgreSQL',
    meaning: 'Neo4j Bolt URI and credentials (user default `neo4j`)',
  },
  {
    names: ['GRAPH_EXTRACTOR'],
    default: '`keywords`',
    meaning: 'entity extraction during ingestion: `keywords` (built in, English and Chinese) or `none`',
  },
  {
    names: ['GRAPH_MAX_ENTITIES_PER_DOCUMENT'],
    default: '`100`',
    meaning: 'most entities kept per document (the most confident)',
  },
  {
    names: ['GRAPH_GDS'],
    default: '`auto`',
    meaning:
      "graph algorithms on Neo4j's Graph Data Science plugin when it is installed (`auto`), or always in process (`off`)",
  },
  {
    names: ['S3_ENDPOINT', 'S3_ACCESS_KEY', 'S3_SECRET_KEY'],
    default: 'directory `DATA_DIR/objects`',
    meaning: 'MinIO or any S3; keys required with the endpoint',
  },
  {
    names: ['S3_BUCKET', 'S3_REGION'],
    default: '`voicehelper`, `us-east-1`',
    meaning: 'bucket (created at start) and region',
  },
  {
    names: ['S3_PUBLIC_ENDPOINT'],
    default: '`S3_ENDPOINT`',
    meaning:
      "where clients reach S3 when not at `S3_ENDPOINT` (a proxy, or compose's published port): presigned URLs are signed for it",
  },
  {
    names: ['EMBEDDINGS_URL'],
    default: 'built-in local embedder',
    meaning: 'optional OpenAI-compatible embeddings endpoint (`<url>/embeddings`)',
  },
  {
    names: ['EMBEDDINGS_MODEL', 'EMBEDDINGS_API_KEY'],
    default: '`text-embedding-3-small`, none',
    meaning: 'model name and bearer key for `EMBEDDINGS_URL`',
  },
  { names: ['EMBEDDING_DIM'], default: '`1024`', meaning: 'embedding dimension' },
  { names: ['DATA_DIR'], default: '`./data`', meaning: 'where embedded stores and local secrets live' },
  { names: ['LOG_LEVEL'], default: '`info`', meaning: 'pino level (`fatal` … `trace`, `silent`)' },
  { names: ['MIGRATE_ON_START'], default: '`true`', meaning: 'apply migrations at start under an advisory lock' },
  { names: ['DB_POOL_MAX'], default: '`20`', meaning: "connections of this node's PostgreSQL pool" },
  {
    names: ['DB_STATEMENT_TIMEOUT_MS'],
    default: '`30000`',
    meaning: 'longest SQL statement (server side; the client gives up 5 s later)',
  },
  { names: ['DB_LOCK_TIMEOUT_MS'], default: '`5000`', meaning: 'longest wait for a lock' },
  {
    names: ['DB_IDLE_IN_TRANSACTION_TIMEOUT_MS'],
    default: '`60000`',
    meaning: 'a session idle inside a transaction this long is ended',
  },
  {
    names: ['GROUP_COMMIT_QUEUE_TIMEOUT_MS'],
    default: '`5000`',
    meaning: 'a message still waiting for its batch this long is answered `UNAVAILABLE` and never written',
  },
  { names: ['S3_TIMEOUT_MS'], default: '`30000`', meaning: 'an S3 request that receives nothing this long fails' },
  {
    names: ['PARSE_TIMEOUT_MS', 'PARSE_MAX_MEMORY_MB'],
    default: '`120000`, `1024`',
    meaning: 'limits of one document parse on the parsing worker (time; heap)',
  },
  {
    names: ['HTTP_REQUEST_TIMEOUT_MS', 'HTTP_HEADERS_TIMEOUT_MS', 'HTTP_KEEPALIVE_TIMEOUT_MS'],
    default: '`300000`, `10000`, `5000`',
    meaning: 'HTTP deadlines: whole request, headers, idle keep-alive',
  },
  {
    names: ['RATE_LIMIT_MESSAGE_SEND'],
    default: '`20/10s`',
    meaning:
      '`message:send` per user, and each delta that opens a stream (`<count>/<window>`, window in ms or with `s`/`m`/`h`)',
  },
  { names: ['RATE_LIMIT_MESSAGE_DELTA'], default: '`200/10s`', meaning: '`message:delta` per user' },
  { names: ['RATE_LIMIT_AUDIO_CHUNK'], default: '`400/10s`', meaning: '`audio:chunk` per user' },
  { names: ['RATE_LIMIT_RETRIEVE'], default: '`10/10s`', meaning: '`retrieve` per user' },
  { names: ['RATE_LIMIT_SYS_PING'], default: '`60/10s`', meaning: '`sys:ping` per user' },
  { names: ['RATE_LIMIT_SESSION_CREATE'], default: '`30/60s`', meaning: '`session:create` per user' },
  {
    names: ['RATE_LIMIT_SESSION_JOIN', 'RATE_LIMIT_SESSION_LEAVE'],
    default: '`120/60s`',
    meaning: '`session:join`, `session:leave` per user',
  },
  {
    names: ['RATE_LIMIT_SESSION_LIST', 'RATE_LIMIT_SESSION_UPDATE'],
    default: '`60/60s`',
    meaning: '`session:list`, `session:update` per user',
  },
  { names: ['RATE_LIMIT_HISTORY_GET'], default: '`120/60s`', meaning: '`history:get` per user' },
  {
    names: ['RATE_LIMIT_AUDIO_START', 'RATE_LIMIT_AUDIO_END'],
    default: '`60/60s`',
    meaning: '`audio:start`, `audio:end` per user',
  },
  { names: ['RATE_LIMIT_AUDIO_URL'], default: '`120/60s`', meaning: '`audio:url` per user' },
  { names: ['RATE_LIMIT_HTTP'], default: '`600/60s`', meaning: 'authenticated HTTP requests per user' },
  {
    names: ['RATE_LIMIT_CONNECTIONS'],
    default: '`30/60s`',
    meaning: 'new Socket.IO connections per IP (fixed window)',
  },
  {
    names: ['RATE_LIMIT_LOGIN'],
    default: '`10/60s`',
    meaning: 'logins per IP and email (fixed window, then blocked for one window)',
  },
  {
    names: ['RATE_LIMIT_LOGIN_IP'],
    default: '`30/60s`',
    meaning: 'logins per IP whatever the email (password spraying; fixed window, then blocked)',
  },
  {
    names: ['RATE_LIMIT_LOGIN_ACCOUNT'],
    default: '`20/15m`',
    meaning:
      'failed sign-ins per account (email) from any address, all nodes together (login, and wrong current passwords of `PUT /v1/users/me/password` and `DELETE /v1/users/me`); then 429 until the window ends',
  },
  { names: ['RATE_LIMIT_REGISTER'], default: '`10/1h`', meaning: 'registrations per IP (fixed window)' },
  {
    names: ['RATE_LIMIT_REFRESH'],
    default: '`60/60s`',
    meaning: '`POST /v1/auth/refresh` and `POST /v1/auth/logout` per IP, counted together (fixed window)',
  },
  {
    names: ['SOCKET_MAX_IN_FLIGHT'],
    default: '`32`',
    meaning: 'events of one socket handled at once; more are refused with `RATE_LIMITED`',
  },
  {
    names: ['PASSWORD_HASH_CONCURRENCY', 'PASSWORD_HASH_QUEUE'],
    default: '`2`, `64`',
    meaning: 'Argon2id runs at once per node, and waiting; beyond, 429 at once',
  },
  {
    names: ['UPLOAD_QUOTA_DOCUMENTS', 'UPLOAD_QUOTA_BYTES'],
    default: '`1000`, `1073741824`',
    meaning: 'documents and bytes one user may keep (413 with `details.quota` beyond)',
  },
  { names: ['UPLOAD_MAX_CONCURRENT'], default: '`8`', meaning: 'uploads one node receives at once (429 beyond)' },
  {
    names: ['UPLOAD_MAX_CONCURRENT_PER_USER'],
    default: '`2`',
    meaning: 'uploads one node receives at once for one user (429 beyond), so that one user cannot take every slot',
  },
  {
    names: ['UPLOAD_IDLE_TIMEOUT_MS', 'UPLOAD_MIN_BYTES_PER_SECOND'],
    default: '`10000`, `4096`',
    meaning:
      'an upload body that sends nothing for this long, or less than this rate averaged over that long (`0`: no least rate), is cut with 408 and frees its slot; time the server holds the body back does not count',
  },
  {
    names: ['TRUST_PROXY'],
    default: 'none',
    meaning:
      'proxies (addresses, CIDRs, `loopback`, `linklocal`, `uniquelocal`) whose `X-Forwarded-For` gives the client address',
  },
  {
    names: ['CORS_ORIGINS'],
    default: 'none (same origin only)',
    meaning: 'other browser origins allowed over HTTP and at the Socket.IO handshake (`*` for any)',
  },
  {
    names: ['RATE_LIMIT_FAIL_MODE'],
    default: '`open`',
    meaning: 'without Redis: `open` limits per node in memory, `closed` answers `UNAVAILABLE`',
  },
  {
    names: ['RATE_LIMIT_SHARED_TIMEOUT_MS'],
    default: '`250`',
    meaning: 'how long one rate-limit check in Redis may take before `RATE_LIMIT_FAIL_MODE` applies to it',
  },
  { names: ['AUDIO_CHUNK_MAX_BYTES'], default: '`65536`', meaning: 'largest `audio:chunk`' },
  { names: ['AUDIO_STREAM_MAX_BYTES'], default: '`10485760`', meaning: 'largest audio stream' },
  {
    names: ['AUDIO_STREAM_TIMEOUT_MS'],
    default: '`60000`',
    meaning: 'an audio stream without chunks this long is discarded',
  },
  { names: ['AUDIO_URL_TTL_SECONDS'], default: '`900`', meaning: 'lifetime of `audio:url` links' },
  {
    names: ['AUDIO_STREAMS_PER_SOCKET', 'AUDIO_STREAMS_PER_USER'],
    default: '`4`, `8`',
    meaning: 'audio streams open at once per socket, and per user on one node',
  },
  {
    names: ['AUDIO_BUFFER_MAX_BYTES'],
    default: '`268435456`',
    meaning: 'audio bytes one node buffers over all streams',
  },
  {
    names: ['OUTBOUND_SOFT_LIMIT_BYTES'],
    default: '`1048576`',
    meaning: 'a socket catching up is sent more only while less than this waits to be written to it',
  },
  {
    names: ['OUTBOUND_HARD_LIMIT_BYTES'],
    default: '`16777216`',
    meaning: 'a socket with more than this waiting is ended as a slow consumer',
  },
  {
    names: ['SLOW_CONSUMER_TIMEOUT_MS'],
    default: '`30000`',
    meaning: 'how long a catch-up waits for a socket to drain',
  },
  {
    names: ['STREAM_RESUME_GRACE_MS'],
    default: '`5000`',
    meaning:
      'a stream whose socket went away is committed as interrupted only if its owner has not continued it within this',
  },
  { names: ['DOCUMENT_MAX_BYTES'], default: '`52428800`', meaning: 'largest document upload' },
  {
    names: ['INGEST_CONCURRENCY', 'INGEST_ATTEMPTS'],
    default: '`2`, `3`',
    meaning: 'ingestion jobs per node, attempts per document',
  },
  {
    names: ['RETRIEVE_TIMEOUT_MS'],
    default: '`3000`',
    meaning:
      'longest the vector and graph halves of one `retrieve` may take together; a half still running then degrades',
  },
  {
    names: ['INGEST_OUTAGE_BUDGET_MS'],
    default: '`600000`',
    meaning: 'how long an ingestion job waits out a store that is down before such failures count as attempts',
  },
  { names: ['INGEST_QUEUE'], default: '`vh-ingest`', meaning: 'BullMQ queue name (one per cluster)' },
  {
    names: ['INGEST_STALLED_MS'],
    default: '`30000`',
    meaning: 'a job whose worker stopped renewing it this long is taken over',
  },
  {
    names: ['STREAM_IDLE_MS'],
    default: '`30000`',
    meaning: 'an open stream idle this long is committed as an interrupted turn',
  },
  {
    names: ['STREAM_SWEEP_MS'],
    default: '`2000`',
    meaning: 'how often streams, dead nodes and heartbeats are handled',
  },
  { names: ['NODE_ALIVE_MS'], default: '`15000`', meaning: 'a node silent this long counts as dead' },
  {
    names: ['PRIVILEGE_SWEEP_MS'],
    default: '`15000`',
    meaning:
      'how often each node reads changes of access from PostgreSQL (roles, status, logouts, revoked keys, wherever made) and re-checks its sockets (user, role, family, token expiry); at most `60000`',
  },
  {
    names: ['RECONCILE_INTERVAL_MS'],
    default: '`300000`',
    meaning: 'how often the storage reconciler runs (one node at a time)',
  },
  {
    names: ['RECONCILE_GRACE_MS'],
    default: '`600000`',
    meaning: 'the reconciler leaves anything younger than this alone',
  },
  { names: ['GROUP_COMMIT_MAX_BATCH'], default: '`256`', meaning: 'most messages committed in one transaction' },
  {
    names: ['GROUP_COMMIT_MAX_WAIT_MS'],
    default: '`2`',
    meaning: 'longest a message waits for companions before its batch leaves (0: next tick)',
  },
  { names: ['GROUP_COMMIT_MAX_IN_FLIGHT'], default: '`4`', meaning: 'message batches committing at once' },
  {
    names: ['PARTITION_MONTHS_AHEAD'],
    default: '`3`',
    meaning: 'monthly partitions of `messages` and `audit_logs` created ahead',
  },
  {
    names: ['PARTITION_RETENTION_MONTHS'],
    default: '`0`',
    meaning: 'whole months kept before the current one (0 keeps everything)',
  },
  { names: ['MESSAGE_MAX_BYTES'], default: '`32768`', meaning: 'largest message `content` in UTF-8 bytes' },
  { names: ['SHUTDOWN_TIMEOUT_MS'], default: '`10000`', meaning: 'how long SIGTERM waits for running handlers' },
  { names: ['DEPENDENCY_TIMEOUT_MS'], default: '`2000`', meaning: 'timeout of each readiness probe' },
  {
    names: ['READINESS_OPTIONAL'],
    default: '`vector,graph`',
    meaning: 'dependencies whose failure does not fail `/readyz` (retrieval degrades without them)',
  },
  { names: ['RATE_LIMIT_SESSION_DELETE'], default: '`30/60s`', meaning: '`session:delete` per user' },
  { names: ['RATE_LIMIT_TURN_INTERRUPT'], default: '`60/60s`', meaning: '`turn:interrupt` (barge-in) per user' },
  {
    names: ['BACKUP_TARGET'],
    default: 'none',
    meaning: 'where backups go: a directory or `s3://bucket/prefix` (default of `voicehelper backup --to/--from`)',
  },
  {
    names: ['BACKUP_ENCRYPTION_KEY'],
    default: 'none (not encrypted)',
    meaning: 'passphrase (≥ 16 chars) that encrypts backups with AES-256-GCM',
  },
  {
    names: ['BACKUP_SCHEDULE'],
    default: 'none',
    meaning: 'daily backup time `HH:MM` UTC, taken by one node of the cluster (needs `BACKUP_TARGET`)',
  },
  { names: ['BACKUP_KEEP_DAYS'], default: '`30`', meaning: 'scheduled backups older than this are pruned' },
];

/** docs/configuration.md: every variable of the schema with its default and meaning. */
export function renderConfigurationDoc(): string {
  const rows = variableDocs.map(
    (row) => `| ${row.names.map((name) => `\`${name}\``).join(', ')} | ${row.default} | ${row.meaning} |`,
  );
  return [
    '# Configuration',
    '',
    '<!-- Generated from src/config/variable-docs.ts by `npm run docs:config`; do not edit. -->',
    '',
    'Everything is read once from the environment, validated (zod, `src/config/schema.ts`),',
    'frozen, and passed down. A bad value stops the node at start with one line per bad',
    'variable, naming it (secret values are never echoed), and exit code 2. With nothing set, a',
    'node runs on embedded stores; each store variable that is set switches that store to the',
    'real service, and nodes sharing one `REDIS_URL` (or `REDIS_CLUSTER_NODES`) and',
    '`DATABASE_URL` form one cluster ([scale-out](scale-out.md), [capacity](capacity.md)).',
    '',
    'A secret that anyone can look up stops the node the same way: a fallback this',
    "project's deployment files once shipped, a vendor's default (`minioadmin`, Neo4j's",
    "`neo4j`, Milvus's `root:Milvus`) or a placeholder (`changeme`, `your_redis_password`), as",
    '`JWT_SECRET`, `METRICS_TOKEN`, `S3_SECRET_KEY`, `NEO4J_PASSWORD`, `MILVUS_TOKEN` or the',
    'password of a store URL (list: `src/config/secrets.ts`); so does a weak `JWT_SECRET` or',
    '`METRICS_TOKEN` (fewer than 10 different characters, or under about 100 bits by',
    'character frequency).',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
