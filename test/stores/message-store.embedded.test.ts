import type pg from 'pg';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '../../src/stores/postgres/embedded-postgres.js';
import { messageStoreContract } from '../contract/message-store.contract.js';
import { migratedPools } from '../helpers/database.js';
import { tempDir, testLogger } from '../helpers/env.js';
import { freePort } from '../helpers/ports.js';

let embedded: EmbeddedPostgresHandle | undefined;
let pools: pg.Pool[] = [];

messageStoreContract({
  name: 'embedded: embedded PostgreSQL',
  pools: async () => {
    embedded = await startEmbeddedPostgres(
      { dir: `${tempDir()}/postgres`, port: await freePort(), password: 'test-only-embedded' },
      testLogger(),
    );
    pools = await migratedPools(embedded.url, 2);
    return [pools[0] as pg.Pool, pools[1] as pg.Pool];
  },
  teardown: async () => {
    await Promise.all(pools.map((p) => p.end()));
    await embedded?.stop();
  },
});
