import { describe, expect, it } from 'vitest';
import { parseEnv, placedValues, placements } from '../../src/config/load.js';
import { envSchema, type ParsedEnv } from '../../src/config/schema.js';
import { buildSections } from '../../src/config/sections.js';
import { TEST_JWT_SECRET } from '../helpers/env.js';

// Each variable is consumed once: its row places it in Config (`at`), or a section reads it.
// The compiler checks the paths and that sections read no placed variable; these tests check
// what it cannot see: that no variable is forgotten and no path is taken twice.

/** Between them, every branch of every section: all embedded, and every store external. */
const ENVIRONMENTS: Record<string, string>[] = [
  {},
  {
    JWT_SECRET: TEST_JWT_SECRET,
    DATABASE_URL: 'postgres://db/vh',
    REDIS_URL: 'redis://redis:6379',
    LOCK_REDIS_URLS: 'redis://a:6379,redis://b:6379,redis://c:6379',
    REDIS_NAMESPACE: 'ns',
    MILVUS_ADDRESS: 'milvus:19530',
    NEO4J_URI: 'bolt://neo4j:7687',
    S3_ENDPOINT: 'http://minio:9000',
    S3_PUBLIC_ENDPOINT: 'https://files.example.com',
    S3_ACCESS_KEY: 'a',
    S3_SECRET_KEY: 'b',
  },
];

/** The variables `buildSections` reads, over every environment. */
function sectionReads(): Set<string> {
  const reads = new Set<string>();
  for (const env of ENVIRONMENTS) {
    const e = parseEnv(env);
    const watched = new Proxy(e, {
      get(target, name, receiver) {
        if (typeof name === 'string') reads.add(name);
        return Reflect.get(target, name, receiver) as ParsedEnv[keyof ParsedEnv];
      },
    });
    buildSections(watched, placedValues(e));
  }
  return reads;
}

describe('configuration rows', () => {
  it('consume every variable: placed by its row or read by a section, not both', () => {
    const placed = placements.map(({ name }) => name as string);
    const read = [...sectionReads()];
    expect(read.filter((name) => placed.includes(name))).toEqual([]);
    expect([...placed, ...read].sort()).toEqual(Object.keys(envSchema).sort());
  });

  it('place no two variables at one path, nor one inside another', () => {
    const paths = placements.map(({ at }) => at as string);
    expect(new Set(paths).size).toBe(paths.length);
    for (const path of paths)
      expect(
        paths.filter((other) => other.startsWith(`${path}.`)),
        path,
      ).toEqual([]);
  });
});
