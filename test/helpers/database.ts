import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { createPool } from '../../src/stores/postgres/pool.js';
import { serviceEnv, testLogger, uniqueName } from './env.js';

/**
 * Creates an empty database on the test PostgreSQL server and returns its URL, for tests
 * that must own a whole schema (migrations); others share the suite's database.
 */
export async function freshDatabase(): Promise<string> {
  const base = new URL(serviceEnv().DATABASE_URL);
  const name = uniqueName('vh').toLowerCase();
  const admin = new pg.Client({ connectionString: base.toString() });
  await admin.connect();
  try {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  base.pathname = `/${name}`;
  return base.toString();
}

/** The deadlines a node's pool has by default. */
const DEFAULT_TIMEOUTS = loadConfig({}).database.timeouts;

/** A pool of a test's own on a database (the suite's by default), with a node's deadlines; the test ends it. */
export function testPool(url = serviceEnv().DATABASE_URL, max = 4): pg.Pool {
  return createPool({ url, max, applicationName: 'voicehelper:test', timeouts: DEFAULT_TIMEOUTS }, testLogger());
}

/** `count` pools on one database, migrated and partitioned as a node does at start. */
export async function migratedPools(url: string, count: number, max = 8): Promise<pg.Pool[]> {
  const pools = Array.from({ length: count }, () => testPool(url, max));
  await migrate(pools[0] as pg.Pool, testLogger());
  await maintainPartitions(pools[0] as pg.Pool, { monthsAhead: 3, retentionMonths: 0 }, testLogger());
  return pools;
}
