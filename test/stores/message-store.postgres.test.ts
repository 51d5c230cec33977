import type pg from 'pg';
import { messageStoreContract } from '../contract/message-store.contract.js';
import { migratedPools } from '../helpers/database.js';
import { serviceEnv } from '../helpers/env.js';

let pools: pg.Pool[] = [];

messageStoreContract({
  name: 'PostgreSQL server',
  pools: async () => {
    pools = await migratedPools(serviceEnv().DATABASE_URL, 2);
    return [pools[0] as pg.Pool, pools[1] as pg.Pool];
  },
  teardown: async () => {
    await Promise.all(pools.map((p) => p.end()));
  },
});
