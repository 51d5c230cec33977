import type pg from 'pg';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { createPool } from '../../src/stores/postgres/pool.js';
import { messageStoreContract } from '../contract/message-store.contract.js';
import { serviceEnv, testLogger } from '../helpers/env.js';

const pools: pg.Pool[] = [];

messageStoreContract({
  name: 'PostgreSQL server',
  pools: async () => {
    const url = serviceEnv().DATABASE_URL;
    const a = createPool({ url, max: 8 }, testLogger());
    const b = createPool({ url, max: 8 }, testLogger());
    pools.push(a, b);
    await migrate(a, testLogger());
    await maintainPartitions(a, { monthsAhead: 3, retentionMonths: 0 }, testLogger());
    return [a, b];
  },
  teardown: async () => {
    await Promise.all(pools.map((p) => p.end()));
  },
});
