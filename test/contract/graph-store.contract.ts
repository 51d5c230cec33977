import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { entityId, type GraphEntity, type GraphStore } from '../../src/stores/graph/graph-store.js';

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
    /** Every test works in a graph of its own owner, so runs never see each other's data. */
    let owner: string;
    const entity = (name: string, extra: Partial<GraphEntity> = {}): GraphEntity => ({
      id: entityId(owner, extra.type ?? 'CONCEPT', name),
      ownerId: owner,
      name,
      type: 'CONCEPT',
      description: '',
      properties: {},
      manual: true,
      ...extra,
    });
    const id = (name: string, type = 'CONCEPT') => entityId(owner, type, name);
    const relate = (a: string, b: string, weight: number, type = '概念关联') =>
      graph.upsertRelation({ id: `rel_${randomUUID()}`, source: id(a), target: id(b), type, weight });

    /** The seed's example: 人工智能 and the concepts around it. */
    async function seedExample(): Promise<void> {
      await graph.upsertEntities(
        ['人工智能', '机器学习', '深度学习', '神经网络', '自然语言处理', '量子计算'].map((name) =>
          entity(name, { description: name === '人工智能' ? '模拟人类智能的技术' : '' }),
        ),
      );
      await relate('人工智能', '机器学习', 0.9);
      await relate('机器学习', '深度学习', 0.8);
      await relate('深度学习', '神经网络', 0.9);
      await relate('人工智能', '自然语言处理', 0.6);
      await relate('自然语言处理', '深度学习', 0.5);
    }

    beforeAll(async () => {
      graph = await options.create();
      await graph.init();
      await graph.init(); // idempotent
    });
    afterAll(async () => {
      await graph.close();
      await options.teardown?.();
    });
    beforeEach(() => {
      owner = randomUUID();
    });

    it('answers ping', async () => {
      await expect(graph.ping()).resolves.toBeUndefined();
    });

    it('writes an entity and reads it back, Chinese names included', async () => {
      const e = entity('人工智能', { description: '模拟人类智能的技术', properties: { aliases: ['AI'], weight: 0.9 } });
      await graph.upsertEntities([e]);
      expect(await graph.getEntity(e.id)).toEqual(e);
    });

    it('updates an entity upserted again and deletes it with its relations', async () => {
      await graph.upsertEntities([entity('ML'), entity('AI')]);
      await graph.upsertEntities([entity('ML', { name: '机器学习', description: 'v2', properties: { v: 2 } })]);
      expect(await graph.getEntity(id('ML'))).toMatchObject({
        name: '机器学习',
        description: 'v2',
        properties: { v: 2 },
      });
      const relation = await relate('ML', 'AI', 0.5);
      await graph.deleteEntity(id('ML'));
      await graph.deleteEntity(id('ML'));
      expect(await graph.getEntity(id('ML'))).toBeUndefined();
      expect(await graph.getRelation(relation.id)).toBeUndefined();
    });

    it('creates a relation once per ends and type, updates its weight, and deletes it', async () => {
      await graph.upsertEntities([entity('a'), entity('b')]);
      const first = await relate('a', 'b', 0.4, 'part-of');
      const again = await relate('a', 'b', 0.7, 'part-of');
      expect(again).toEqual({ ...first, weight: 0.7 });
      expect(first).toMatchObject({ source: id('a'), target: id('b'), relationType: 'RELATED_TO', type: 'part-of' });
      const other = await relate('a', 'b', 0.2, 'cites');
      expect(other.id).not.toBe(first.id);
      expect(await graph.getRelation(first.id)).toEqual(again);
      expect(await graph.deleteRelation(first.id)).toBe(true);
      expect(await graph.deleteRelation(first.id)).toBe(false);
      expect(await graph.getRelation(first.id)).toBeUndefined();
      expect(await graph.getRelation(other.id)).toMatchObject({ weight: 0.2 });
    });

    it('counts changes per owner and for the whole graph', async () => {
      const other = randomUUID();
      const before = [await graph.version(), await graph.version(owner), await graph.version(other)];
      await graph.upsertEntities([entity('versioned')]);
      const after = [await graph.version(), await graph.version(owner), await graph.version(other)];
      expect(after[0]).not.toBe(before[0]);
      expect(after[1]).not.toBe(before[1]);
      expect(after[2]).toBe(before[2]);
      await graph.upsertEntities([entity('second')]);
      const relation = await relate('versioned', 'second', 0.5);
      const withRelation = await graph.version(owner);
      await graph.deleteRelation(relation.id);
      expect(await graph.version(owner)).not.toBe(withRelation);
      const withoutRelation = await graph.version(owner);
      await graph.deleteEntity(id('second'));
      expect(await graph.version(owner)).not.toBe(withoutRelation);
      expect(await graph.version(other)).toBe(before[2]);
    });

    it('finds entities by a part of their name, ignoring case, one owner or all', async () => {
      await graph.upsertEntities([
        entity('Machine Learning'),
        entity('learning'),
        entity('Deep learning'),
        entity('机器学习'),
        entity('Other'),
      ]);
      expect((await graph.findEntities(owner, 'LEARN', 10)).map((e) => e.name)).toEqual([
        'learning',
        'Deep learning',
        'Machine Learning',
      ]);
      expect((await graph.findEntities(owner, '学习', 10)).map((e) => e.name)).toEqual(['机器学习']);
      expect(await graph.findEntities(owner, 'learn', 1)).toEqual([
        { id: id('learning'), name: 'learning', type: 'CONCEPT' },
      ]);
      expect(await graph.findEntities(randomUUID(), 'learn', 10)).toEqual([]);
      expect((await graph.findEntities(undefined, 'Machine Learning', 100)).map((e) => e.id)).toContain(
        id('Machine Learning'),
      );
      expect(await graph.findEntities(owner, "%' or 1=1 --", 10)).toEqual([]);
      expect(await graph.findEntities(owner, '%', 10)).toEqual([]);
    });

    it('refuses a relation to a missing entity', async () => {
      await graph.upsertEntities([entity('lonely')]);
      await expect(relate('lonely', 'nobody', 0.5)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });

    it('finds the seed example relations at depth 1, 2 and 3 in the seed order', async () => {
      await seedExample();
      const names = (rows: Array<{ name: string; distance: number; relevance: number }>) =>
        rows.map((r) => [r.name, r.distance, Number(r.relevance.toFixed(6))]);
      const related = (depth: number) =>
        graph.expand([{ id: id('人工智能'), score: 1 }], { depth, limit: 10, exclude: [id('人工智能')] });
      expect(names(await related(1))).toEqual([
        ['机器学习', 1, 0.9],
        ['自然语言处理', 1, 0.6],
      ]);
      expect(names(await related(2))).toEqual([
        ['机器学习', 1, 0.9],
        ['深度学习', 2, 0.72],
        ['自然语言处理', 1, 0.6],
      ]);
      expect(names(await related(3))).toEqual([
        ['机器学习', 1, 0.9],
        ['深度学习', 2, 0.72],
        ['神经网络', 3, 0.648],
        ['自然语言处理', 1, 0.6],
      ]);
      expect(
        await graph.expand([{ id: id('人工智能'), score: 1 }], { depth: 3, limit: 2, exclude: [id('人工智能')] }),
      ).toHaveLength(2);
      expect(
        await graph.expand([{ id: id('量子计算'), score: 1 }], { depth: 3, limit: 10, exclude: [id('量子计算')] }),
      ).toEqual([]);
    });

    it('expands from several seeds: seeds at distance 0, the best path wins, relation types filter', async () => {
      await seedExample();
      const rows = await graph.expand(
        [
          { id: id('人工智能'), score: 0.5 },
          { id: id('神经网络'), score: 1 },
        ],
        { depth: 1, limit: 10 },
      );
      expect(rows.map((r) => [r.name, r.distance, Number(r.relevance.toFixed(6))])).toEqual([
        ['神经网络', 0, 1],
        ['深度学习', 1, 0.9],
        ['人工智能', 0, 0.5],
        ['机器学习', 1, 0.45],
        ['自然语言处理', 1, 0.3],
      ]);
      expect(rows[0]).toEqual({ id: id('神经网络'), name: '神经网络', type: 'CONCEPT', distance: 0, relevance: 1 });
      expect(
        await graph.expand([{ id: id('人工智能'), score: 1 }], { depth: 2, limit: 10, relationTypes: ['CO_OCCURS'] }),
      ).toEqual([{ id: id('人工智能'), name: '人工智能', type: 'CONCEPT', distance: 0, relevance: 1 }]);
      expect(await graph.expand([], { depth: 2, limit: 10 })).toEqual([]);
    });

    it('lists neighbours heaviest first, filtered by relation type', async () => {
      await seedExample();
      const neighbours = await graph.neighbours(id('深度学习'), {
        relationTypes: ['RELATED_TO', 'CO_OCCURS'],
        limit: 10,
      });
      expect(neighbours.map((n) => [n.entity.name, n.relation.weight])).toEqual([
        ['神经网络', 0.9],
        ['机器学习', 0.8],
        ['自然语言处理', 0.5],
      ]);
      expect(neighbours[1]?.relation).toMatchObject({
        source: id('机器学习'),
        target: id('深度学习'),
        relationType: 'RELATED_TO',
        type: '概念关联',
      });
      expect(await graph.neighbours(id('深度学习'), { relationTypes: ['CO_OCCURS'], limit: 10 })).toEqual([]);
      expect(await graph.neighbours(id('深度学习'), { relationTypes: ['RELATED_TO'], limit: 1 })).toHaveLength(1);
    });

    it('finds a shortest path with its nodes and relations, and none when absent', async () => {
      await seedExample();
      const unique = await graph.shortestPath(id('机器学习'), id('神经网络'), 8);
      expect(unique?.nodes.map((n) => n.name)).toEqual(['机器学习', '深度学习', '神经网络']);
      expect(unique?.relations.map((r) => r.weight)).toEqual([0.8, 0.9]);
      expect(unique?.relations[0]).toMatchObject({
        source: id('机器学习'),
        target: id('深度学习'),
        relationType: 'RELATED_TO',
        type: '概念关联',
      });
      // Two paths of three hops tie here; either is a right answer, and each must hang together.
      const path = await graph.shortestPath(id('人工智能'), id('神经网络'), 8);
      expect(path?.length).toBe(3);
      expect(path?.nodes[0]?.name).toBe('人工智能');
      expect(path?.nodes[3]?.name).toBe('神经网络');
      path?.relations.forEach((r, i) =>
        expect([r.source, r.target].sort()).toEqual([path.nodes[i]?.id, path.nodes[i + 1]?.id].sort()),
      );
      expect(await graph.shortestPath(id('神经网络'), id('人工智能'), 8)).toMatchObject({ length: 3 });
      expect(await graph.shortestPath(id('人工智能'), id('量子计算'), 8)).toBeUndefined();
      expect(await graph.shortestPath(id('人工智能'), id('神经网络'), 2)).toBeUndefined();
      expect(await graph.shortestPath(id('人工智能'), id('nobody'), 8)).toBeUndefined();
      expect(await graph.shortestPath(id('人工智能'), id('人工智能'), 8)).toMatchObject({
        length: 0,
        nodes: [{ name: '人工智能' }],
      });
    });

    it('keeps what documents contribute: contains, co-occurrence counts, and removal', async () => {
      const doc = (name: string) => ({ id: `doc_${randomUUID()}`, ownerId: owner, title: name });
      const d1 = doc('AI技术发展报告');
      const d2 = doc('second');
      const found = (name: string, confidence: number, position = 0) => ({
        id: id(name, 'NAME'),
        name,
        type: 'NAME',
        confidence,
        position,
        context: `… ${name} …`,
      });
      const pair = (a: string, b: string, frequency: number) => {
        const [source, target] = [id(a, 'NAME'), id(b, 'NAME')].sort();
        return { source: source as string, target: target as string, frequency };
      };
      await graph.upsertEntities([entity('Kept by hand', { type: 'NAME' })]);
      await graph.replaceDocument({
        document: d1,
        entities: [
          found('OpenAI', 0.9, 10),
          found('GPT', 0.7, 40),
          found('Kept by hand', 0.5, 80),
          found('Only in d1', 0.3, 90),
        ],
        cooccurrences: [pair('OpenAI', 'GPT', 2), pair('GPT', 'Only in d1', 1)],
      });
      // Re-ingesting replaces, it does not add up.
      await graph.replaceDocument({
        document: d1,
        entities: [
          found('OpenAI', 0.9, 10),
          found('GPT', 0.7, 40),
          found('Kept by hand', 0.5, 80),
          found('Only in d1', 0.3, 90),
        ],
        cooccurrences: [pair('OpenAI', 'GPT', 2), pair('GPT', 'Only in d1', 1)],
      });
      await graph.replaceDocument({
        document: d2,
        entities: [found('OpenAI', 0.8), found('GPT', 0.6)],
        cooccurrences: [pair('OpenAI', 'GPT', 3)],
      });
      expect(await graph.getEntity(id('OpenAI', 'NAME'))).toMatchObject({
        name: 'OpenAI',
        ownerId: owner,
        manual: false,
      });
      expect(await graph.documentEntities(d1.id, 2)).toEqual([
        {
          id: id('OpenAI', 'NAME'),
          name: 'OpenAI',
          type: 'NAME',
          confidence: 0.9,
          position: 10,
          context: '… OpenAI …',
        },
        { id: id('GPT', 'NAME'), name: 'GPT', type: 'NAME', confidence: 0.7, position: 40, context: '… GPT …' },
      ]);
      expect(await graph.documentEntities(d2.id, 10)).toHaveLength(2);
      // Seeds from documents: the two most confident entities of each, scored by document × confidence.
      const seeded = await graph.expandDocuments(
        [
          { id: d1.id, score: 1 },
          { id: d2.id, score: 0.5 },
        ],
        { perDocument: 2, depth: 0, limit: 10 },
      );
      expect(seeded.map((e) => [e.name, e.distance, e.relevance])).toEqual([
        ['OpenAI', 0, 0.9],
        ['GPT', 0, 0.7],
      ]);
      const twoHops = await graph.expandDocuments([{ id: d2.id, score: 1 }], { perDocument: 1, depth: 1, limit: 10 });
      expect(twoHops.map((e) => [e.name, e.distance, Number(e.relevance.toFixed(6))])).toEqual([
        ['OpenAI', 0, 0.8],
        ['GPT', 1, Number((0.8 * (5 / 6)).toFixed(6))],
      ]);
      const cooccurs = async () =>
        (await graph.neighbours(id('GPT', 'NAME'), { relationTypes: ['CO_OCCURS'], limit: 10 })).map((n) => n.relation);
      const both = (await cooccurs()).find((r) => r.documents.length === 2);
      expect(both).toMatchObject({ relationType: 'CO_OCCURS', frequency: 5, weight: 5 / 6 });
      expect([...(both?.documents ?? [])].sort()).toEqual([d1.id, d2.id].sort());
      expect(await cooccurs()).toHaveLength(2);

      await graph.upsertRelation({
        id: `rel_${randomUUID()}`,
        source: id('OpenAI', 'NAME'),
        target: id('Kept by hand', 'NAME'),
        type: 'x',
        weight: 1,
      });
      const [v1, mine, others] = [await graph.version(), await graph.version(owner), await graph.version(randomUUID())];
      await graph.deleteDocument(d1.id);
      expect(await graph.version()).not.toBe(v1);
      expect(await graph.version(owner)).not.toBe(mine);
      expect(others).toBe('0');
      expect(await graph.expandDocuments([{ id: d1.id, score: 1 }], { perDocument: 10, depth: 2, limit: 10 })).toEqual(
        [],
      );
      expect(await graph.documentEntities(d1.id, 10)).toEqual([]);
      expect(await cooccurs()).toEqual([expect.objectContaining({ frequency: 3, weight: 0.75, documents: [d2.id] })]);
      expect(await graph.getEntity(id('Only in d1', 'NAME'))).toBeUndefined();
      expect(await graph.getEntity(id('Kept by hand', 'NAME'))).toMatchObject({ manual: true });
      expect(
        await graph.neighbours(id('Kept by hand', 'NAME'), { relationTypes: ['RELATED_TO'], limit: 10 }),
      ).toHaveLength(1);

      await graph.deleteDocument(d2.id);
      await graph.deleteDocument(d2.id);
      expect(await graph.getEntity(id('OpenAI', 'NAME'))).toBeUndefined();
      expect(await graph.getEntity(id('GPT', 'NAME'))).toBeUndefined();
      expect(
        await graph.neighbours(id('Kept by hand', 'NAME'), { relationTypes: ['RELATED_TO', 'CO_OCCURS'], limit: 10 }),
      ).toEqual([]);
    });

    it('adds up co-occurrences of documents ingested at the same time, and takes them back out', async () => {
      const names = ['Alpha', 'Beta', 'Gamma'];
      const ids = names.map((n) => id(n, 'NAME'));
      const docs = Array.from({ length: 12 }, (_, i) => ({
        id: `doc_${randomUUID()}`,
        ownerId: owner,
        title: `parallel ${i}`,
      }));
      const pairs = [
        [ids[0], ids[1]],
        [ids[1], ids[2]],
      ].map(([a, b]) => [a, b].sort() as [string, string]);
      const contribution = (document: (typeof docs)[number], i: number) => ({
        document,
        entities: names.map((name, j) => ({
          id: ids[j] as string,
          name,
          type: 'NAME',
          confidence: 0.5,
          position: j,
          context: '',
        })),
        cooccurrences: pairs.map(([source, target]) => ({ source, target, frequency: 1 + (i % 3) })),
      });
      await Promise.all(docs.map((document, i) => graph.replaceDocument(contribution(document, i))));
      const expected = docs.reduce((sum, _, i) => sum + 1 + (i % 3), 0);
      const relations = async () =>
        (await graph.neighbours(ids[1] as string, { relationTypes: ['CO_OCCURS'], limit: 10 })).map((n) => n.relation);
      for (const relation of await relations()) {
        expect(relation.frequency).toBe(expected);
        expect([...relation.documents].sort()).toEqual(docs.map((d) => d.id).sort());
      }
      await Promise.all(docs.slice(0, 6).map((document) => graph.deleteDocument(document.id)));
      const rest = docs.slice(6).reduce((sum, _, i) => sum + 1 + ((i + 6) % 3), 0);
      for (const relation of await relations()) expect(relation.frequency).toBe(rest);
      await Promise.all(docs.slice(6).map((document) => graph.deleteDocument(document.id)));
      expect(await relations()).toEqual([]);
      expect(await graph.getEntity(ids[0] as string)).toBeUndefined();
    });

    it('keeps an entity that one document gains while another, its last, is deleted', async () => {
      for (let round = 0; round < 10; round++) {
        const shared = `shared ${round}`;
        const contribution = (documentId: string) => ({
          document: { id: documentId, ownerId: owner, title: documentId },
          entities: [{ id: id(shared, 'NAME'), name: shared, type: 'NAME', confidence: 0.5, position: 0, context: '' }],
          cooccurrences: [],
        });
        const [first, second] = [`doc_${randomUUID()}`, `doc_${randomUUID()}`];
        await graph.replaceDocument(contribution(first));
        await Promise.all([graph.deleteDocument(first), graph.replaceDocument(contribution(second))]);
        expect(await graph.getEntity(id(shared, 'NAME'))).toMatchObject({ name: shared });
        expect(await graph.documentEntities(second, 10)).toEqual([expect.objectContaining({ name: shared })]);
      }
    });

    it("projects one owner's graph for the algorithms", async () => {
      await seedExample();
      const projected = await graph.project(owner);
      expect(projected.nodes).toHaveLength(6);
      expect(projected.edges).toHaveLength(5);
      expect(projected.edges).toContainEqual({ source: id('人工智能'), target: id('机器学习'), weight: 0.9 });
      const other = randomUUID();
      expect(await graph.project(other)).toEqual({ nodes: [], edges: [] });
    });

    it('stores hostile strings as plain data', async () => {
      const hostile = [
        `x'}) DETACH DELETE n //`,
        '"; drop table graph_entities; --',
        'a`]->() MATCH (m) DETACH DELETE m //',
        '$id {id: 1}',
      ];
      for (const text of hostile) {
        const e = { ...entity(text, { description: text }), id: `${text}${randomUUID()}` };
        await graph.upsertEntities([e, entity('anchor')]);
        expect(await graph.getEntity(e.id)).toEqual(e);
        const relation = await graph.upsertRelation({
          id: text,
          source: e.id,
          target: id('anchor'),
          type: text,
          weight: 0.5,
        });
        expect(relation).toMatchObject({ type: text, source: e.id });
        expect((await graph.expand([{ id: e.id, score: 1 }], { depth: 1, limit: 5 })).map((r) => r.name)).toEqual([
          text,
          'anchor',
        ]);
        await graph.deleteRelation(text);
        await graph.deleteEntity(e.id);
      }
      expect(await graph.getEntity(id('anchor'))).toBeDefined();
    });

    it('refuses depths and relation types that are not on the whitelist', async () => {
      await seedExample();
      const seeds = [{ id: id('人工智能'), score: 1 }];
      for (const depth of [4, -1, 1.5, Number.NaN, '1..2]-(m) DETACH DELETE m //' as unknown as number]) {
        await expect(graph.expand(seeds, { depth, limit: 5 })).rejects.toMatchObject({ code: 'VALIDATION' });
      }
      const hostile = ['RELATED_TO]-() DETACH DELETE e //', 'related_to', ''];
      for (const type of hostile) {
        await expect(
          graph.expand(seeds, { depth: 1, limit: 5, relationTypes: [type as 'RELATED_TO'] }),
        ).rejects.toMatchObject({ code: 'VALIDATION' });
        await expect(
          graph.neighbours(id('人工智能'), { relationTypes: [type as 'RELATED_TO'], limit: 5 }),
        ).rejects.toMatchObject({ code: 'VALIDATION' });
      }
      expect(await graph.getEntity(id('人工智能'))).toBeDefined();
      expect(await graph.neighbours(id('人工智能'), { relationTypes: ['RELATED_TO'], limit: 5 })).toHaveLength(2);
    });
  });
}
