import type pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgresHandle } from '../../src/stores/postgres/embedded-postgres.js';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { maintainPartitions } from '../../src/stores/postgres/partitions.js';
import { createPool } from '../../src/stores/postgres/pool.js';
import { messageStoreContract } from '../contract/message-store.contract.js';
import { tempDir, testLogger } from '../helpers/env.js';
import { freePort } from '../helpers/ports.js';

let embedded: EmbeddedPostgresHandle;
const pools: pg.Pool[] = [];

messageStoreContract({
  name: 'embedded PostgreSQL (the npm start default)',
  pools: async () => {
    embedded = await startEmbeddedPostgres(
      { dir: `${tempDir()}/postgres`, port: await freePort(), password: 'test-only-embedded' },
      testLogger(),
    );
    const a = createPool({ url: embedded.url, max: 8 }, testLogger());
    const b = createPool({ url: embedded.url, max: 8 }, testLogger());
    pools.push(a, b);
    await migrate(a, testLogger());
    await maintainPartitions(a, { monthsAhead: 3, retentionMonths: 0 }, testLogger());
    return [a, b];
  },
  teardown: async () => {
    await Promise.all(pools.map((p) => p.end()));
    await embedded?.stop();
  },
});
