import type pg from 'pg';
import { PostgresGraphStore } from '../../src/stores/graph/postgres-graph-store.js';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { graphStoreContract } from '../contract/graph-store.contract.js';
import { testPool } from '../helpers/database.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

let pool: pg.Pool;

graphStoreContract({
  name: 'embedded: PostgreSQL tables',
  create: async () => {
    pool = testPool(serviceEnv().DATABASE_URL, 20);
    await migrate(pool, testLogger());
    return new PostgresGraphStore(pool);
  },
  teardown: () => pool.end(),
});
