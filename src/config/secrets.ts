/**
 * Secrets anyone can look up, compared without regard to case: every fallback this
 * repository's deployment files ever shipped (`git log -p -- docker-compose.yml`), the
 * vendors' defaults (MinIO, Neo4j, Milvus, PostgreSQL images) and the placeholders of the
 * seed design and of tutorials. A node given one of them refuses to start: whoever has the
 * repository could sign a `service` token with a published JWT_SECRET, or log into a store.
 * The test services' own values (test/infra/services.sh) are made up there and are not here.
 */
const PUBLISHED = [
  // docker-compose.yml's fallbacks before protocol v5.
  'local-development-only-jwt-secret-change-me',
  'local-dev-postgres',
  'local-dev-redis',
  'local-dev-neo4j',
  'local-dev-minio-secret',
  'local-dev-milvus-minio',
  'local-dev-grafana',
  // Vendors' defaults: MinIO's root user, Neo4j's initial password, Milvus's root user.
  'minioadmin',
  'minioadmin123',
  'neo4j',
  'root:Milvus',
  'Milvus',
  // The seed design's and the usual placeholders.
  'your_redis_password',
  'your-redis-password',
  'your_password',
  'your-secret-key',
  'your_jwt_secret',
  'changeme',
  'change-me',
  'change_me',
  'password',
  'secret',
  'postgres',
  'redis',
  'admin',
  'root',
  'voicehelper',
];
const published = new Set(PUBLISHED.map((value) => value.toLowerCase()));

/** True for a secret on the list of published ones. */
export function isPublishedSecret(value: string): boolean {
  return published.has(value.trim().toLowerCase());
}

/** Fewest different characters a signing key or token may have. */
const MIN_DISTINCT_CHARACTERS = 10;
/** Least estimated strength of a signing key or token, in bits. */
const MIN_ESTIMATED_BITS = 100;

/**
 * An estimate of a secret's strength in bits: its length times the Shannon entropy of its
 * own character frequencies. It cannot see patterns, but catches what a person types as a
 * placeholder (`xxxx...`, `abab...`, a word repeated): 64 hex characters give about 240,
 * 48 random bytes in base64 about 320, `passwordpassword...` 88.
 */
export function estimatedBits(value: string): number {
  const counts = new Map<string, number>();
  for (const character of value) counts.set(character, (counts.get(character) ?? 0) + 1);
  let perCharacter = 0;
  for (const count of counts.values()) {
    const p = count / value.length;
    perCharacter -= p * Math.log2(p);
  }
  return perCharacter * value.length;
}

/** Why a signing key or bearer token is too weak, or undefined when it is not. */
export function weakness(value: string): string | undefined {
  if (new Set(value).size < MIN_DISTINCT_CHARACTERS)
    return `too weak: fewer than ${MIN_DISTINCT_CHARACTERS} different characters`;
  if (estimatedBits(value) < MIN_ESTIMATED_BITS)
    return `too weak: about ${Math.floor(estimatedBits(value))} bits, at least ${MIN_ESTIMATED_BITS} needed`;
  return undefined;
}

/** The password part of a connection URL, or undefined when it has none. */
function passwordOf(url: string): string | undefined {
  try {
    const password = new URL(url).password;
    return password === '' ? undefined : decodeURIComponent(password);
  } catch {
    return undefined;
  }
}

/** The secrets `secretProblems` looks at, as parsed from the environment. */
export interface SecretVariables {
  JWT_SECRET: string | undefined;
  METRICS_TOKEN: string | undefined;
  S3_SECRET_KEY: string | undefined;
  NEO4J_PASSWORD: string | undefined;
  MILVUS_TOKEN: string | undefined;
  DATABASE_URL: string | undefined;
  REDIS_URL: string | undefined;
  REDIS_CLUSTER_NODES: readonly string[] | undefined;
  LOCK_REDIS_URLS: readonly string[] | undefined;
}

const GENERATE = 'generate one, e.g. `openssl rand -base64 48`';

/**
 * One line per secret that is published or too weak, naming its variable and never its
 * value. Keys the node itself signs or checks with (JWT_SECRET, METRICS_TOKEN) must also
 * be strong; the stores' passwords are only refused when published, since a store decides
 * for itself what it accepts.
 */
export function secretProblems(env: SecretVariables): string[] {
  const problems: string[] = [];
  const published = (name: string) =>
    `${name}: a published default (in this project's history or a vendor's documentation); ${GENERATE} (value hidden)`;
  for (const name of ['JWT_SECRET', 'METRICS_TOKEN'] as const) {
    const value = env[name];
    if (value === undefined) continue;
    if (isPublishedSecret(value)) problems.push(published(name));
    else {
      const weak = weakness(value);
      if (weak !== undefined) problems.push(`${name}: ${weak}; ${GENERATE} (value hidden)`);
    }
  }
  for (const name of ['S3_SECRET_KEY', 'NEO4J_PASSWORD'] as const) {
    const value = env[name];
    if (value !== undefined && isPublishedSecret(value)) problems.push(published(name));
  }
  // Milvus's token is `user:password` or an API key; its default root password alone counts too.
  const milvus = env.MILVUS_TOKEN;
  if (milvus !== undefined && (isPublishedSecret(milvus) || isPublishedSecret(milvus.split(':').slice(1).join(':'))))
    problems.push(published('MILVUS_TOKEN'));
  const urls: [string, readonly string[]][] = [
    ['DATABASE_URL', env.DATABASE_URL === undefined ? [] : [env.DATABASE_URL]],
    ['REDIS_URL', env.REDIS_URL === undefined ? [] : [env.REDIS_URL]],
    ['REDIS_CLUSTER_NODES', env.REDIS_CLUSTER_NODES ?? []],
    ['LOCK_REDIS_URLS', env.LOCK_REDIS_URLS ?? []],
  ];
  for (const [name, list] of urls) {
    if (
      list.some((url) => {
        const password = passwordOf(url);
        return password !== undefined && isPublishedSecret(password);
      })
    )
      problems.push(
        `${name}: its password is a published default (in this project's history or a vendor's documentation); ${GENERATE} (value hidden)`,
      );
  }
  return problems;
}
