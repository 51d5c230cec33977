import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, withoutServerVariables } from '../../src/config/load.js';
import { envSchema } from '../../src/config/schema.js';
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

describe('loadConfig', () => {
  it('runs everything embedded when no service variable is set', () => {
    const config = loadConfig({});
    expect(config.embeddedDefault).toBe(true);
    expect(config.http.port).toBe(3000);
    expect(config.postgres.mode).toBe('embedded');
    expect(config.redis.mode).toBe('memory');
    expect(config.vector.mode).toBe('postgres');
    expect(config.graph.mode).toBe('postgres');
    expect(config.objects.mode).toBe('fs');
    expect(config.embeddings.dim).toBe(1024);
    expect(config.migrateOnStart).toBe(true);
    expect([...config.readinessOptional]).toEqual(['vector', 'graph']);
  });

  it('leaves tracing off unless an OTLP endpoint is set, and refuses a bad endpoint or ratio', () => {
    expect(loadConfig({}).tracing).toEqual({
      endpoint: undefined,
      serviceName: 'voicehelper',
      sampleRatio: 1,
      exportDelayMs: 5_000,
    });
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_TRACES_SAMPLER_ARG: '0.25' }).tracing,
    ).toMatchObject({ endpoint: 'http://collector:4318', sampleRatio: 0.25 });
    const problems = problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://collector', OTEL_TRACES_SAMPLER_ARG: '2' });
    expect(problems.some((p) => p.startsWith('OTEL_EXPORTER_OTLP_ENDPOINT:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('OTEL_TRACES_SAMPLER_ARG:'))).toBe(true);
  });

  it('switches each store to the real service whose variable is set', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://u:p@db:5432/vh',
      REDIS_URL: 'redis://redis:6379',
      MILVUS_ADDRESS: 'milvus:19530',
      NEO4J_URI: 'bolt://neo4j:7687',
      NEO4J_PASSWORD: 'pw',
      S3_ENDPOINT: 'https://s3.example.com',
      S3_ACCESS_KEY: 'a',
      S3_SECRET_KEY: 'b',
      JWT_SECRET: TEST_JWT_SECRET,
    });
    expect(config.embeddedDefault).toBe(false);
    expect(config.postgres).toEqual({ mode: 'external', url: 'postgres://u:p@db:5432/vh' });
    expect(config.redis).toEqual({
      mode: 'external',
      url: 'redis://redis:6379',
      clusterNodes: [],
      lockUrls: [],
      keyPrefix: '',
    });
    expect(config.vector).toMatchObject({ mode: 'milvus', address: 'milvus:19530' });
    expect(config.graph).toMatchObject({ mode: 'neo4j', uri: 'bolt://neo4j:7687', user: 'neo4j' });
    expect(config.objects).toMatchObject({ mode: 's3', endPoint: 's3.example.com', port: 443, useSSL: true });
  });

  it('takes a Redis Cluster from its seed nodes instead of REDIS_URL', () => {
    const config = loadConfig({
      REDIS_CLUSTER_NODES: 'redis://:pw@a:7000, redis://:pw@b:7001',
      JWT_SECRET: TEST_JWT_SECRET,
    });
    expect(config.redis).toEqual({
      mode: 'external',
      url: 'redis://:pw@a:7000',
      clusterNodes: ['redis://:pw@a:7000', 'redis://:pw@b:7001'],
      lockUrls: [],
      keyPrefix: '',
    });
    expect(config.embeddedDefault).toBe(false);
  });

  it('puts REDIS_NAMESPACE in front of every Redis key, and takes only a plain name', () => {
    const base = { REDIS_URL: 'redis://redis:6379', JWT_SECRET: TEST_JWT_SECRET };
    const config = loadConfig({ ...base, REDIS_NAMESPACE: 'staging-2' });
    expect(config.redis).toMatchObject({ mode: 'external', keyPrefix: 'staging-2:' });
    for (const bad of ['a:b', '{tag}', 'x'.repeat(65), 'with space']) {
      expect(problemsOf({ ...base, REDIS_NAMESPACE: bad })).toEqual([
        expect.stringMatching(/^REDIS_NAMESPACE: expected 1 to 64 letters, digits, underscores or hyphens/),
      ]);
    }
  });

  it('switches only the stores that are configured', () => {
    const config = loadConfig({ MILVUS_ADDRESS: '127.0.0.1:19530' });
    expect(config.vector.mode).toBe('milvus');
    expect(config.postgres.mode).toBe('embedded');
    expect(config.embeddedDefault).toBe(false);
  });

  it.each([
    [{ PORT: 'abc' }, /^PORT: expected an integer between 0 and 65535 \(got "abc"\)$/],
    [{ PORT: '70000' }, /^PORT: /],
    [{ DATABASE_URL: 'nonsense', JWT_SECRET: TEST_JWT_SECRET }, /^DATABASE_URL: expected a URL like postgres:/],
    [{ REDIS_URL: 'http://redis', JWT_SECRET: TEST_JWT_SECRET }, /^REDIS_URL: expected a URL like redis:/],
    [{ MILVUS_ADDRESS: 'milvus' }, /^MILVUS_ADDRESS: expected host:port/],
    [{ NEO4J_URI: 'http://neo4j:7474' }, /^NEO4J_URI: /],
    [{ LOG_LEVEL: 'loud' }, /^LOG_LEVEL: /],
    [{ MIGRATE_ON_START: 'maybe' }, /^MIGRATE_ON_START: expected true or false/],
    [{ EMBEDDING_DIM: '0' }, /^EMBEDDING_DIM: /],
    [{ READINESS_OPTIONAL: 'vector,cache' }, /^READINESS_OPTIONAL: /],
    [{ JWT_SECRET: 'short' }, /^JWT_SECRET: expected at least 32 characters/],
    [{ NODE_ID: 'has space' }, /^NODE_ID: /],
    [{ BACKUP_SCHEDULE: '25:00', BACKUP_TARGET: '/backups' }, /^BACKUP_SCHEDULE: expected HH:MM \(UTC\)/],
    [{ BACKUP_SCHEDULE: '02:00' }, /^BACKUP_TARGET: required with BACKUP_SCHEDULE/],
    [{ BACKUP_ENCRYPTION_KEY: 'short' }, /^BACKUP_ENCRYPTION_KEY: expected at least 16 characters/],
    [
      { REDIS_URL: 'redis://r:6379', JWT_SECRET: TEST_JWT_SECRET, LOCK_REDIS_URLS: 'redis://a:6379,http://b' },
      /^LOCK_REDIS_URLS: expected comma-separated URLs/,
    ],
    [{ LOCK_REDIS_URLS: 'redis://a:6379,redis://b:6379,redis://c:6379' }, /^REDIS_URL: required with LOCK_REDIS_URLS/],
    [
      { REDIS_CLUSTER_NODES: 'redis://a:7000,b:7001', JWT_SECRET: TEST_JWT_SECRET },
      /^REDIS_CLUSTER_NODES: expected comma-separated URLs/,
    ],
    [
      { REDIS_CLUSTER_NODES: 'redis://a:7000' },
      /^JWT_SECRET: required when DATABASE_URL, REDIS_URL or REDIS_CLUSTER_NODES is set/,
    ],
    [
      { REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'redis://a:7000', JWT_SECRET: TEST_JWT_SECRET },
      /^REDIS_CLUSTER_NODES: set it or REDIS_URL, not both/,
    ],
  ])('names the bad variable in one line: %j', (env, pattern) => {
    const problems = problemsOf(env);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(pattern);
  });

  it('reports every bad variable, one line each', () => {
    expect(problemsOf({ PORT: 'abc', LOG_LEVEL: 'loud', EMBEDDING_DIM: '-1' })).toHaveLength(3);
  });

  it('never echoes secret values in errors', () => {
    const problems = problemsOf({ DATABASE_URL: 'mysql://root:hunter2@db', JWT_SECRET: 'tooshort-hunter2' });
    expect(problems.join('\n')).not.toContain('hunter2');
    expect(problems.join('\n')).toContain('value hidden');
  });

  it('requires JWT_SECRET once nodes share PostgreSQL or Redis, and S3 keys with S3_ENDPOINT', () => {
    expect(problemsOf({ DATABASE_URL: 'postgres://db/vh' })[0]).toMatch(/^JWT_SECRET: required/);
    expect(problemsOf({ REDIS_URL: 'redis://r:6379' })[0]).toMatch(/^JWT_SECRET: required/);
    expect(problemsOf({ S3_ENDPOINT: 'http://minio:9000' })).toEqual([
      'S3_ACCESS_KEY: required with S3_ENDPOINT (not set)',
      'S3_SECRET_KEY: required with S3_ENDPOINT (not set)',
    ]);
  });

  it('starts the reference assistant on the embedded default only, unless ASSISTANT says otherwise', () => {
    const python = { ASSISTANT_PYTHON: '/venv/bin/python' };
    const cluster = { DATABASE_URL: 'postgres://db/vh', JWT_SECRET: TEST_JWT_SECRET };
    expect(loadConfig(python).assistant).toEqual({ mode: 'on', python: '/venv/bin/python', agent: 'assistant' });
    // Wanted, but nothing to run it on: the node says so and serves without it.
    expect(loadConfig({}).assistant).toEqual({ mode: 'unavailable', agent: 'assistant' });
    expect(loadConfig({ ...python, ASSISTANT: 'off' }).assistant).toEqual({ mode: 'off' });
    expect(loadConfig({ ...python, ...cluster }).assistant).toEqual({ mode: 'off' });
    expect(loadConfig({ ...python, ...cluster, ASSISTANT: 'on', DEFAULT_AGENT: 'concierge' }).assistant).toEqual({
      mode: 'on',
      python: '/venv/bin/python',
      agent: 'concierge',
    });
    expect(problemsOf({ ASSISTANT: 'on' })).toEqual([
      "ASSISTANT_PYTHON: required with ASSISTANT=on, the Python of the assistant's venv (npm start makes it and sets this) (not set)",
    ]);
    expect(problemsOf({ ASSISTANT: 'yes' })[0]).toMatch(/^ASSISTANT: /);
  });

  it("gives a child process the environment without the server's own variables", () => {
    const child = withoutServerVariables({
      PATH: '/usr/bin',
      LLM_API_KEY: 'k',
      JWT_SECRET: TEST_JWT_SECRET,
      DATABASE_URL: 'postgres://db/vh',
      ASSISTANT_PYTHON: '/venv/bin/python',
    });
    expect(child).toEqual({ PATH: '/usr/bin', LLM_API_KEY: 'k' });
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: ' ' }).http.port).toBe(3000);
  });

  it('returns a frozen configuration', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.http)).toBe(true);
    expect(() => {
      (config.http as { port: number }).port = 1;
    }).toThrow();
  });

  it('documents every variable it reads', () => {
    for (const name of Object.keys(envSchema)) expect(name).toMatch(/^[A-Z][A-Z0-9_]+$/);
  });
});
