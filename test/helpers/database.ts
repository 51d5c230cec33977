import pg from 'pg';
import { serviceEnv, uniqueName } from './env.js';

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
