import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphStore } from '../../src/stores/graph/graph-store.js';

/** How one GraphStore implementation is created for the contract suite. */
export interface GraphStoreSuiteOptions {
  name: string;
  create: () => Promise<GraphStore>;
  teardown?: () => Promise<void>;
}

/** The behaviour every graph store must have, run against each implementation. */
export function graphStoreContract(options: GraphStoreSuiteOptions): void {
  describe(`GraphStore contract: ${options.name}`, () => {
    let graph: GraphStore;

    beforeAll(async () => {
      graph = await options.create();
      await graph.init();
      await graph.init(); // idempotent
    });
    afterAll(async () => {
      await graph.close();
      await options.teardown?.();
    });

    it('answers ping', async () => {
      await expect(graph.ping()).resolves.toBeUndefined();
    });

    it('writes an entity and reads it back, Chinese names included', async () => {
      const id = randomUUID();
      await graph.upsertEntities([{ id, name: '人工智能', type: 'CONCEPT', properties: { aliases: ['AI'], weight: 0.9 } }]);
      expect(await graph.getEntity(id)).toEqual({
        id,
        name: '人工智能',
        type: 'CONCEPT',
        properties: { aliases: ['AI'], weight: 0.9 },
      });
    });

    it('updates an entity upserted again and deletes it', async () => {
      const id = randomUUID();
      await graph.upsertEntities([{ id, name: 'ML', type: 'CONCEPT', properties: {} }]);
      await graph.upsertEntities([{ id, name: '机器学习', type: 'FIELD', properties: { v: 2 } }]);
      expect(await graph.getEntity(id)).toMatchObject({ name: '机器学习', type: 'FIELD', properties: { v: 2 } });
      await graph.deleteEntity(id);
      await graph.deleteEntity(id);
      expect(await graph.getEntity(id)).toBeUndefined();
    });

    it('stores hostile strings as plain data', async () => {
      const id = `x'}) DETACH DELETE n //${randomUUID()}`;
      const name = `"; drop table graph_entities; --`;
      await graph.upsertEntities([{ id, name, type: 'T', properties: {} }]);
      expect((await graph.getEntity(id))?.name).toBe(name);
      await graph.deleteEntity(id);
    });
  });
}
