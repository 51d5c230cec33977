import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { packageRoot } from '../../src/util/package-root.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return [...error.problems];
    throw error;
  }
  return [];
}

/** The fallbacks docker-compose.yml shipped before protocol v5 (`git log -p -- docker-compose.yml`). */
const COMPOSE_FALLBACKS = [
  'local-development-only-jwt-secret-change-me',
  'local-dev-postgres',
  'local-dev-redis',
  'local-dev-neo4j',
  'local-dev-minio-secret',
  'local-dev-milvus-minio',
  'local-dev-grafana',
];
const VENDOR_AND_PLACEHOLDERS = ['minioadmin', 'minioadmin123', 'your_redis_password', 'changeme', 'CHANGEME', 'neo4j'];

describe('published and weak secrets', () => {
  it.each([...COMPOSE_FALLBACKS, ...VENDOR_AND_PLACEHOLDERS])(
    'refuses %s as every secret the node reads, naming the variable and never the value',
    (secret) => {
      const cases: [Record<string, string>, string][] = [
        ...(secret.length >= 32
          ? [[{ METRICS_TOKEN: secret }, 'METRICS_TOKEN'] as [Record<string, string>, string]]
          : []),
        [{ S3_ENDPOINT: 'http://s3:9000', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: secret }, 'S3_SECRET_KEY'],
        [{ NEO4J_URI: 'bolt://neo4j:7687', NEO4J_PASSWORD: secret }, 'NEO4J_PASSWORD'],
        [{ MILVUS_ADDRESS: 'milvus:19530', MILVUS_TOKEN: `root:${secret}` }, 'MILVUS_TOKEN'],
        [
          {
            DATABASE_URL: `postgres://voicehelper:${encodeURIComponent(secret)}@db:5432/vh`,
            JWT_SECRET: TEST_JWT_SECRET,
          },
          'DATABASE_URL',
        ],
        [{ REDIS_URL: `redis://:${encodeURIComponent(secret)}@redis:6379`, JWT_SECRET: TEST_JWT_SECRET }, 'REDIS_URL'],
        [
          { REDIS_CLUSTER_NODES: `redis://:${secret}@a:7000,redis://:${secret}@b:7000`, JWT_SECRET: TEST_JWT_SECRET },
          'REDIS_CLUSTER_NODES',
        ],
        [
          {
            REDIS_URL: 'redis://:not-a-default-0123@redis:6379',
            LOCK_REDIS_URLS: `redis://:${secret}@a:6379`,
            JWT_SECRET: TEST_JWT_SECRET,
          },
          'LOCK_REDIS_URLS',
        ],
      ];
      for (const [env, variable] of cases) {
        const problems = problemsOf(env);
        expect(problems, variable).toEqual([expect.stringMatching(new RegExp(`^${variable}: .*published default`))]);
        expect(problems[0], variable).toContain('value hidden');
        // After the variable's own name, which may contain the value (NEO4J_PASSWORD and `neo4j`).
        expect(problems[0]?.slice(variable.length).toLowerCase(), variable).not.toContain(secret.toLowerCase());
      }
    },
  );

  it('accepts a strong METRICS_TOKEN and refuses a short one', () => {
    expect(problemsOf({ METRICS_TOKEN: randomBytes(32).toString('base64url') })).toEqual([]);
    expect(problemsOf({ METRICS_TOKEN: 'short' })).toEqual([
      expect.stringMatching(/^METRICS_TOKEN: expected at least 32 characters \(value hidden\)$/),
    ]);
  });

  it("refuses the compose file's old JWT_SECRET fallback, which passes the length check", () => {
    const secret = 'local-development-only-jwt-secret-change-me';
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(problemsOf({ JWT_SECRET: secret })).toEqual([
      expect.stringMatching(/^JWT_SECRET: a published default.*openssl rand -base64 48.*\(value hidden\)$/),
    ]);
  });

  it.each([
    ['one character repeated', 'x'.repeat(32)],
    ['two alternating', 'ab'.repeat(24)],
    ['a word repeated', 'password'.repeat(5)],
    ['nine different characters', '123456789'.repeat(5)],
  ])('refuses a weak JWT_SECRET or METRICS_TOKEN: %s', (_label, secret) => {
    for (const name of ['JWT_SECRET', 'METRICS_TOKEN']) {
      const problems = problemsOf({ [name]: secret });
      expect(problems).toEqual([expect.stringMatching(new RegExp(`^${name}: too weak: .*\\(value hidden\\)$`))]);
    }
  });

  it.each([
    ['openssl rand -base64 48', randomBytes(48).toString('base64')],
    ['openssl rand -hex 32', randomBytes(32).toString('hex')],
    ['openssl rand -hex 16 (128 random bits)', randomBytes(16).toString('hex')],
    ['the test suite key', TEST_JWT_SECRET],
    ['the fault harness key', 'chaos-secret-chaos-secret-chaos-secret-0123'],
  ])('accepts a strong JWT_SECRET: %s', (_label, secret) => {
    expect(problemsOf({ JWT_SECRET: secret })).toEqual([]);
  });

  it("accepts the test services' own credentials, so that the suite still starts", () => {
    const script = readFileSync(path.join(packageRoot(), 'test', 'infra', 'services.sh'), 'utf8');
    const value = (name: string) => {
      const found = new RegExp(`^(?:export )?${name}=(\\S+)$`, 'm').exec(script)?.[1];
      expect(found, name).toBeDefined();
      return String(found);
    };
    const redis = value('TEST_REDIS_PASSWORD');
    const env = {
      DATABASE_URL: `postgres://postgres:${value('TEST_PG_PASSWORD')}@127.0.0.1:5432/voicehelper_test`,
      REDIS_URL: `redis://:${redis}@127.0.0.1:6379`,
      LOCK_REDIS_URLS: `redis://:${redis}@127.0.0.1:7000`,
      NEO4J_URI: 'bolt://127.0.0.1:7687',
      NEO4J_PASSWORD: value('NEO4J_PASSWORD'),
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_ACCESS_KEY: value('TEST_S3_ACCESS_KEY'),
      S3_SECRET_KEY: value('TEST_S3_SECRET_KEY'),
      JWT_SECRET: TEST_JWT_SECRET,
    };
    expect(problemsOf(env)).toEqual([]);
  });

  it('leaves the embedded default alone: it generates its own key', () => {
    expect(loadConfig({}).jwtSecret).toBeUndefined();
  });
});
