import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/stores/postgres/migrator.js';
import { MemoryPubSub } from '../../src/stores/pubsub/memory-pubsub.js';
import { PostgresVectorIndex } from '../../src/stores/vectors/postgres-vector-index.js';
import { vectorIndexContract } from '../contract/vector-index.contract.js';
import { testPool } from '../helpers/database.js';
import { serviceEnv, tempDir, testLogger, uniqueName } from '../helpers/env.js';

let pool: pg.Pool;

vectorIndexContract({
  name: 'embedded: a PostgreSQL table searched in memory',
  create: async () => {
    pool = testPool(serviceEnv().DATABASE_URL, 20);
    await migrate(pool, testLogger());
    return new PostgresVectorIndex(pool, new MemoryPubSub(), testLogger(), {
      collection: uniqueName('contract'),
      dimension: 8,
    });
  },
});

const DIM = 4;
const axis = (i: number): number[] => Array.from({ length: DIM }, (_, j) => (j === i ? 1 : 0));

describe('PostgresVectorIndex shared by two nodes', () => {
  let pools: pg.Pool[];
  beforeAll(async () => {
    pools = [testPool(serviceEnv().DATABASE_URL, 20), testPool(serviceEnv().DATABASE_URL, 20)];
    await migrate(pools[0] as pg.Pool, testLogger());
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.end()));
    await pool?.end();
  });

  /** Two nodes of one collection; with `shared` they hear each other's announcements. */
  async function pair(shared: boolean) {
    const collection = uniqueName('pair');
    const bus = new MemoryPubSub();
    const [a, b] = pools.map(
      (p) =>
        new PostgresVectorIndex(p, shared ? bus : new MemoryPubSub(), testLogger(), { collection, dimension: DIM }),
    );
    await a!.init();
    await b!.init();
    return { a: a!, b: b!, collection };
  }

  it('finds on one node what the other wrote, at the next search, even without any announcement', async () => {
    const { a, b } = await pair(false);
    const owner = randomUUID();
    const doc = randomUUID();
    await a.insert([{ chunkId: 'c1', documentId: doc, ownerId: owner, content: 'one', embedding: axis(0) }]);
    expect((await b.search(axis(0), { topK: 5, ownerId: owner })).map((h) => h.content)).toEqual(['one']);
    await a.deleteByDocument(doc);
    expect(await b.search(axis(0), { topK: 5, ownerId: owner })).toEqual([]);
    // Written again after its removal: the log applies in order.
    await b.insert([{ chunkId: 'c2', documentId: doc, ownerId: owner, content: 'two', embedding: axis(1) }]);
    expect((await a.search(axis(1), { topK: 5, ownerId: owner })).map((h) => h.content)).toEqual(['two']);
    await a.close();
    await b.close();
  });

  it('reloads a node that fell behind a pruned change log, and a restarted node loads everything', async () => {
    const { a, b, collection } = await pair(true);
    const owner = randomUUID();
    for (let i = 0; i < 3; i++)
      await a.insert([{ chunkId: `k${i}`, documentId: `d${i}`, ownerId: owner, content: `c${i}`, embedding: axis(i) }]);
    expect(await b.search(axis(0), { topK: 5, ownerId: owner })).toHaveLength(3);
    await pools[0]!.query('delete from vector_changes where collection = $1', [collection]);
    await a.insert([{ chunkId: 'k3', documentId: 'd3', ownerId: owner, content: 'c3', embedding: axis(3) }]);
    await pools[0]!.query(
      'delete from vector_changes where collection = $1 and id < (select max(id) from vector_changes where collection = $1)',
      [collection],
    );
    await a.deleteByDocument('d0');
    expect((await b.search(axis(0), { topK: 5, ownerId: owner })).map((h) => h.content).sort()).toEqual([
      'c1',
      'c2',
      'c3',
    ]);
    const restarted = new PostgresVectorIndex(pools[1] as pg.Pool, new MemoryPubSub(), testLogger(), {
      collection,
      dimension: DIM,
    });
    await restarted.init();
    expect((await restarted.search(axis(3), { topK: 5, ownerId: owner })).map((h) => h.content)).toEqual([
      'c3',
      'c1',
      'c2',
    ]);
    await expect(
      new PostgresVectorIndex(pools[1] as pg.Pool, new MemoryPubSub(), testLogger(), {
        collection,
        dimension: 8,
      }).init(),
    ).rejects.toThrow(/dimension 4 but EMBEDDING_DIM is 8/);
    for (const index of [a, b, restarted]) await index.close();
  });

  it('imports the snapshot of the former in-process index once', async () => {
    const dir = tempDir();
    const collection = uniqueName('legacy');
    const owner = randomUUID();
    writeFileSync(
      path.join(dir, `${collection}.json`),
      JSON.stringify({
        dimension: DIM,
        records: [{ chunkId: 'old1', documentId: 'doc', ownerId: owner, content: 'kept', embedding: axis(2) }],
      }),
    );
    const index = new PostgresVectorIndex(pools[0] as pg.Pool, new MemoryPubSub(), testLogger(), {
      collection,
      dimension: DIM,
      legacySnapshotDir: dir,
    });
    await index.init();
    expect((await index.search(axis(2), { topK: 1, ownerId: owner })).map((h) => h.content)).toEqual(['kept']);
    expect(await index.countByDocument('doc')).toBe(1);
    await index.close();
  });
});
