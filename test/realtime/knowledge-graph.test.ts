import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetrieveResult } from '../../protocol/events.js';
import { entityId } from '../../src/stores/graph/graph-store.js';
import { request } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';

const ENGLISH = `OpenAI trains GPT-4 on Microsoft Azure. OpenAI sells access to GPT-4 through an API.
Speech recognition turns voice into text before GPT-4 answers; speech recognition quality decides what the model hears.`;
const CHINESE =
  '人工智能是模拟人类智能的技术。机器学习是人工智能的一个分支，深度学习是机器学习的一种方法。神经网络在深度学习中广泛使用。';
const SECOND = 'Microsoft Azure hosts many services. Microsoft Azure regions run in many countries.';

type Json = Record<string, any>;

/**
 * The same behaviour on Neo4j (the harness, with the Graph Data Science plugin), on Neo4j
 * with algorithms in process, and on the embedded graph in PostgreSQL.
 */
describe.each([
  ['Neo4j with GDS', {}, 'gds'],
  ['Neo4j, algorithms in process', { GRAPH_GDS: 'off' }, 'graphology'],
  ['the embedded graph in PostgreSQL', { NEO4J_URI: '' }, 'graphology'],
])('knowledge graph on %s', (_name, overrides: Record<string, string>, engine) => {
  let cluster: TestCluster;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let admin: { id: string; token: string };
  const docs: Record<string, string> = {};

  const call = async (user: { token: string }, method: string, path: string, body?: unknown, node = 0) => {
    const response = await fetch(`${cluster.urls[node]}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${user.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Json };
  };
  const upload = async (user: { token: string }, text: string, name: string) => {
    const form = new FormData();
    form.append('file', new Blob([text], { type: 'text/plain' }), `${name}.txt`);
    const response = await fetch(`${cluster.urls[0]}/v1/documents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}` },
      body: form,
    });
    const id = ((await response.json()) as Json)['document'].id as string;
    await eventually(
      async () =>
        expect((await call(user, 'GET', `/v1/documents/${id}`, undefined, 1)).body['document'].status).toBe('ready'),
      30_000,
    );
    return id;
  };
  const entity = (name: string, type = 'NAME', owner = alice.id) => entityId(owner, type, name);

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { EMBEDDING_DIM: '256', ...overrides });
    [alice, bob, admin] = [await cluster.user(), await cluster.user(), await cluster.user('admin')];
    docs['english'] = await upload(alice, ENGLISH, 'english');
    docs['chinese'] = await upload(alice, CHINESE, 'chinese');
    docs['second'] = await upload(alice, SECOND, 'second');
  }, 90_000);
  afterAll(() => cluster?.stop());

  it('builds entities and co-occurrences from ingested documents, visible to their owner only', async () => {
    const openai = await call(alice, 'GET', `/v1/graph/entities/${entity('OpenAI')}`);
    expect(openai.status).toBe(200);
    expect(openai.body['entity']).toMatchObject({ name: 'OpenAI', type: 'NAME', ownerId: alice.id, manual: false });
    expect(
      (await call(alice, 'GET', `/v1/graph/entities/${entity('人工智能', 'CONCEPT')}`)).body['entity'],
    ).toMatchObject({ name: '人工智能' });
    expect((await call(bob, 'GET', `/v1/graph/entities/${entity('OpenAI')}`)).status).toBe(404);
    const found = await call(alice, 'GET', `/v1/graph/entities?q=${encodeURIComponent('openai')}`);
    expect(found.body['entities']).toEqual([{ id: entity('OpenAI'), name: 'OpenAI', type: 'NAME' }]);
    expect((await call(bob, 'GET', '/v1/graph/entities?q=openai')).body['entities']).toEqual([]);
    expect((await call(alice, 'GET', '/v1/graph/entities?q=')).status).toBe(400);
    expect((await call(admin, 'GET', `/v1/graph/entities/${entity('OpenAI')}`)).status).toBe(200);

    const contained = await call(alice, 'GET', `/v1/documents/${docs['english']}/entities?limit=3`, undefined, 1);
    expect(contained.status).toBe(200);
    expect(contained.body['entities']).toHaveLength(3);
    expect(contained.body['entities'][0]).toMatchObject({
      name: expect.any(String),
      confidence: expect.any(Number),
      position: expect.any(Number),
    });
    const openaiMention = (await call(alice, 'GET', `/v1/documents/${docs['english']}/entities`)).body['entities'].find(
      (e: Json) => e.name === 'OpenAI',
    );
    expect(openaiMention).toMatchObject({
      id: entity('OpenAI'),
      position: 0,
      context: expect.stringContaining('OpenAI trains GPT-4'),
    });
    expect((await call(bob, 'GET', `/v1/documents/${docs['english']}/entities`)).status).toBe(403);
    expect((await call(alice, 'GET', `/v1/documents/${docs['english']}/entities?limit=0`)).status).toBe(400);

    const neighbours = await call(
      alice,
      'GET',
      `/v1/graph/entities/${entity('OpenAI')}/neighbors?types=CO_OCCURS`,
      undefined,
      1,
    );
    const names = neighbours.body['neighbors'].map((n: Json) => n.entity.name);
    expect(names).toEqual(expect.arrayContaining(['GPT-4', 'Microsoft Azure']));
    const azure = neighbours.body['neighbors'].find((n: Json) => n.entity.name === 'Microsoft Azure');
    expect(azure.relation).toMatchObject({ relationType: 'CO_OCCURS', documents: [docs['english']] });
    expect(azure.relation.frequency).toBeGreaterThanOrEqual(1);

    const related = await call(
      alice,
      'GET',
      `/v1/graph/entities/${entity('人工智能', 'CONCEPT')}/related?depth=1&limit=20`,
    );
    expect(related.status).toBe(200);
    expect(related.body['entities'].map((e: Json) => e.name)).toEqual(expect.arrayContaining(['机器学习', '深度学习']));
    for (const e of related.body['entities']) expect(e).toMatchObject({ distance: 1, relevance: expect.any(Number) });
  });

  it('answers a question with chunks and the entities around them, by graphDepth', async () => {
    const socket = await cluster.connect(1, alice);
    const ask = async (graphDepth: number) => {
      const answer = await request<RetrieveResult>(socket, 'retrieve', {
        query: 'Which cloud does OpenAI train GPT-4 on?',
        topK: 1,
        graphDepth,
      });
      if (!answer.ok) throw new Error(JSON.stringify(answer.error));
      return answer.data;
    };
    const flat = await ask(0);
    expect(flat.chunks[0]?.documentId).toBe(docs['english']);
    expect(flat.degraded).toBeUndefined();
    expect(flat.entities.map((e) => e.name)).toEqual(expect.arrayContaining(['OpenAI', 'GPT-4', 'Microsoft Azure']));
    expect(flat.entities.every((e) => e.distance === 0)).toBe(true);
    // Named in the question: ranked first.
    expect(
      flat.entities
        .slice(0, 2)
        .map((e) => e.name)
        .sort(),
    ).toEqual(['GPT-4', 'OpenAI']);
    expect(flat.timings.graphMs).toBeGreaterThan(0);

    // A hand-made relation reaches beyond the document at depth 1.
    const altman = await call(alice, 'POST', '/v1/graph/entities', {
      name: 'Sam Altman',
      type: 'PERSON',
      description: 'CEO',
    });
    expect(altman.status).toBe(201);
    const relation = await call(alice, 'POST', '/v1/graph/relations', {
      from: entity('OpenAI'),
      to: altman.body['entity'].id,
      type: 'led by',
      weight: 0.9,
    });
    expect(relation.status).toBe(201);
    expect(flat.entities.map((e) => e.name)).not.toContain('Sam Altman');
    const deep = await ask(1);
    const found = deep.entities.find((e) => e.name === 'Sam Altman');
    expect(found).toMatchObject({ type: 'PERSON', distance: 1 });
    const openai = deep.entities.find((e) => e.name === 'OpenAI');
    // OpenAI: its seed score, doubled (named in the question); Sam Altman: the same seed score
    // × the relation's weight 0.9 × 0.8 for one hop.
    expect((found?.relevance ?? 0) / (openai?.relevance ?? 1)).toBeCloseTo((0.9 * 0.8) / 2, 4);
    expect((await call(alice, 'DELETE', `/v1/graph/relations/${relation.body['relation'].id}`)).status).toBe(204);
    expect((await ask(1)).entities.map((e) => e.name)).not.toContain('Sam Altman');

    // Chinese question: the entities of the Chinese document.
    const chinese = await request<RetrieveResult>(socket, 'retrieve', {
      query: '深度学习和机器学习是什么关系',
      topK: 1,
    });
    expect(
      chinese.ok &&
        chinese.data.entities
          .slice(0, 2)
          .map((e) => e.name)
          .sort(),
    ).toEqual(['机器学习', '深度学习']);
    // Bob's retrieval sees none of Alice's graph.
    const bobs = await request<RetrieveResult>(await cluster.connect(0, bob), 'retrieve', {
      query: 'OpenAI GPT-4',
      graphDepth: 2,
    });
    expect(bobs.ok && bobs.data.entities).toEqual([]);
  });

  it('adds and removes entities and relations by hand, owner or admin only', async () => {
    const a = (await call(alice, 'POST', '/v1/graph/entities', { name: 'Alpha', type: 'CONCEPT' })).body['entity'];
    const b = (await call(alice, 'POST', '/v1/graph/entities', { name: 'Beta', type: 'CONCEPT', properties: { x: 1 } }))
      .body['entity'];
    expect(a).toMatchObject({ id: entity('Alpha', 'CONCEPT'), manual: true, ownerId: alice.id });
    const mine = (await call(bob, 'POST', '/v1/graph/entities', { name: 'Alpha', type: 'CONCEPT' })).body['entity'];
    expect(mine.id).not.toBe(a.id);
    expect((await call(bob, 'POST', '/v1/graph/relations', { from: mine.id, to: a.id })).status).toBe(404);
    expect((await call(alice, 'POST', '/v1/graph/relations', { from: a.id, to: a.id })).status).toBe(400);
    const relation = (
      await call(alice, 'POST', '/v1/graph/relations', { from: a.id, to: b.id, type: '概念关联', weight: 0.8 })
    ).body['relation'];
    expect(relation).toMatchObject({
      source: a.id,
      target: b.id,
      relationType: 'RELATED_TO',
      type: '概念关联',
      weight: 0.8,
    });
    expect((await call(bob, 'DELETE', `/v1/graph/relations/${relation.id}`)).status).toBe(404);
    expect((await call(bob, 'DELETE', `/v1/graph/entities/${a.id}`)).status).toBe(404);
    expect((await call(admin, 'DELETE', `/v1/graph/relations/${relation.id}`)).status).toBe(204);
    expect((await call(alice, 'DELETE', `/v1/graph/relations/${relation.id}`)).status).toBe(404);
    expect((await call(alice, 'DELETE', `/v1/graph/entities/${b.id}`)).status).toBe(204);
    expect((await call(alice, 'GET', `/v1/graph/entities/${b.id}`)).status).toBe(404);
    const audit = await call(admin, 'GET', `/v1/admin/audit-logs?userId=${alice.id}&action=graph.entity.delete`);
    expect(audit.body['entries']).toEqual(expect.arrayContaining([expect.objectContaining({ resourceId: b.id })]));
  });

  it('refuses injection in relation types, depth, ids and names, or stores them literally', async () => {
    const a = (await call(alice, 'POST', '/v1/graph/entities', { name: 'Gamma', type: 'CONCEPT' })).body['entity'];
    const bad = [
      [
        'POST',
        '/v1/graph/relations',
        { from: a.id, to: a.id, relationType: 'RELATED_TO]->() MATCH (n) DETACH DELETE n //' },
      ],
      ['POST', '/v1/graph/relations', { from: a.id, to: a.id, relationType: 'CO_OCCURS' }],
      ['POST', '/v1/graph/relations', { from: a.id, to: a.id, weight: 2 }],
      ['GET', `/v1/graph/entities/${a.id}/related?depth=${encodeURIComponent('1..3]-(m) DETACH DELETE m //')}`],
      ['GET', `/v1/graph/entities/${a.id}/related?depth=4`],
      ['GET', `/v1/graph/entities/${a.id}/related?depth=0`],
      ['GET', `/v1/graph/entities/${a.id}/related?depth=1.5`],
      ['GET', `/v1/graph/entities/${a.id}/neighbors?types=${encodeURIComponent('RELATED_TO|CONTAINS')}`],
      ['GET', `/v1/graph/entities/${a.id}/neighbors?types=${encodeURIComponent('RELATED_TO]-() DETACH DELETE e //')}`],
      ['GET', `/v1/graph/path?from=${a.id}&to=${a.id}&maxHops=100`],
      ['POST', '/v1/graph/entities', { name: 'x', type: 'T', extra: 1 }],
      ['POST', '/v1/graph/entities', { name: '', type: 'T' }],
    ] as const;
    for (const [method, path, body] of bad) {
      const answer = await call(alice, method, path, body);
      expect({ path, status: answer.status }).toEqual({ path, status: 400 });
      expect(answer.body['error'].code).toBe('VALIDATION');
    }
    const hostileId = encodeURIComponent(`${a.id}'}) DETACH DELETE n //`);
    expect((await call(alice, 'GET', `/v1/graph/entities/${hostileId}/related`)).status).toBe(404);
    const hostile = `Robert'); MATCH (n) DETACH DELETE n; --"}`;
    const stored = await call(alice, 'POST', '/v1/graph/entities', {
      name: hostile,
      type: 'T`) DETACH DELETE n //',
      description: '$id',
    });
    expect(stored.status).toBe(201);
    expect(
      (await call(alice, 'GET', `/v1/graph/entities/${encodeURIComponent(stored.body['entity'].id)}`)).body['entity'],
    ).toMatchObject({
      name: hostile,
      type: 'T`) DETACH DELETE n //',
      description: '$id',
    });
    expect((await call(alice, 'GET', `/v1/graph/entities/${entity('OpenAI')}`)).status).toBe(200);
  });

  it('finds a shortest path, and 404 when there is none', async () => {
    const make = async (name: string) =>
      (await call(alice, 'POST', '/v1/graph/entities', { name, type: 'STOP' })).body['entity'].id as string;
    const [x, y, z, island] = [await make('X'), await make('Y'), await make('Z'), await make('Island')];
    await call(alice, 'POST', '/v1/graph/relations', { from: x, to: y, weight: 0.5 });
    await call(alice, 'POST', '/v1/graph/relations', { from: z, to: y, weight: 0.25 });
    const path = await call(alice, 'GET', `/v1/graph/path?from=${x}&to=${z}`, undefined, 1);
    expect(path.status).toBe(200);
    expect(path.body['path']).toMatchObject({ length: 2, nodes: [{ name: 'X' }, { name: 'Y' }, { name: 'Z' }] });
    expect(path.body['path'].relations.map((r: Json) => r.weight)).toEqual([0.5, 0.25]);
    expect((await call(alice, 'GET', `/v1/graph/path?from=${x}&to=${island}`)).status).toBe(404);
    expect((await call(alice, 'GET', `/v1/graph/path?from=${x}&to=${z}&maxHops=1`)).status).toBe(404);
    expect((await call(bob, 'GET', `/v1/graph/path?from=${x}&to=${z}`)).status).toBe(404);
  });

  it('runs PageRank, Louvain and betweenness with known answers, cached until the graph changes', async () => {
    const owner = await cluster.user();
    const make = async (name: string) =>
      (await call(owner, 'POST', '/v1/graph/entities', { name, type: 'NODE' })).body['entity'].id as string;
    const link = (from: string, to: string) => call(owner, 'POST', '/v1/graph/relations', { from, to, weight: 1 });
    // A star (hub and four leaves) next to two triangles joined by one bridge.
    const hub = await make('hub');
    const leaves = [await make('l1'), await make('l2'), await make('l3'), await make('l4')];
    for (const leaf of leaves) await link(hub, leaf);
    const [a, b, c, d, e, f] = [
      await make('a'),
      await make('b'),
      await make('c'),
      await make('d'),
      await make('e'),
      await make('f'),
    ];
    for (const [from, to] of [
      [a, b],
      [b, c],
      [c, a],
      [d, e],
      [e, f],
      [f, d],
      [c, d],
    ] as const)
      await link(from, to);
    const run = (name: string, body: Json = { ownerId: owner.id, limit: 20 }) =>
      call(admin, 'POST', `/v1/graph/algorithms/${name}`, body);

    expect((await call(alice, 'POST', '/v1/graph/algorithms/pagerank', { ownerId: owner.id })).status).toBe(403);
    expect((await run('shortest')).status).toBe(400);
    expect((await run('pagerank', { ownerId: owner.id, limit: 0 })).status).toBe(400);

    const pagerank = await run('pagerank');
    expect(pagerank.status).toBe(200);
    expect(pagerank.body).toMatchObject({
      algorithm: 'pagerank',
      engine,
      nodeCount: 11,
      relationshipCount: 11,
      cached: false,
    });
    const score = (rows: Json[], name: string) => rows.find((r) => r.name === name)?.score as number;
    // By hand: with damping d, N = 11 nodes and k = 4 leaves, leaf = (1-d)/N + d·hub/k and
    // hub = (1-d)/N + d·k·leaf give leaf = (1 + d/k) / (N(1 + d)); the star, 5 of the 11
    // nodes with no dangling node, keeps 5/11 of the total, so hub = 5/11 - 4·leaf.
    const damping = 0.85;
    const leaf = (1 + damping / 4) / (11 * (1 + damping));
    expect(score(pagerank.body['results'], 'l1')).toBeCloseTo(leaf, 3);
    expect(score(pagerank.body['results'], 'hub')).toBeCloseTo(5 / 11 - 4 * leaf, 3);
    expect(pagerank.body['results'].reduce((sum: number, r: Json) => sum + r.score, 0)).toBeCloseTo(1, 4);

    const betweenness = await run('betweenness');
    // Hub: on the paths of the 6 pairs of leaves. c (and d): on the paths from a and b to d, e, f.
    expect(score(betweenness.body['results'], 'hub')).toBeCloseTo(6, 6);
    expect(score(betweenness.body['results'], 'l1')).toBeCloseTo(0, 6);
    expect(score(betweenness.body['results'], 'c')).toBeCloseTo(6, 6);
    expect(score(betweenness.body['results'], 'd')).toBeCloseTo(6, 6);
    expect(score(betweenness.body['results'], 'a')).toBeCloseTo(0, 6);

    const louvain = await run('louvain');
    expect(louvain.body['communityCount']).toBe(3);
    // By hand, m = 11: star 4/11 - (8/22)^2, each triangle 3/11 - (7/22)^2.
    expect(louvain.body['modularity']).toBeCloseTo(4 / 11 - (8 / 22) ** 2 + 2 * (3 / 11 - (7 / 22) ** 2), 4);
    const community = (name: string) => louvain.body['results'].find((r: Json) => r.name === name)?.community as number;
    expect(new Set([community('a'), community('b'), community('c')]).size).toBe(1);
    expect(new Set([community('d'), community('e'), community('f')]).size).toBe(1);
    expect(community('a')).not.toBe(community('d'));
    expect(new Set([community('hub'), ...['l1', 'l2', 'l3', 'l4'].map(community)]).size).toBe(1);
    expect(community('hub')).toBe(0); // the largest community is numbered first

    expect((await run('pagerank')).body['cached']).toBe(true);
    // A change made through the other node invalidates this node's cached result.
    expect(
      (await call(owner, 'POST', '/v1/graph/relations', { from: leaves[0], to: leaves[1], weight: 1 }, 1)).status,
    ).toBe(201);
    const changed = await run('pagerank');
    expect(changed.body).toMatchObject({ cached: false, relationshipCount: 12 });
    expect((await run('pagerank', { limit: 1000 })).body['nodeCount']).toBeGreaterThanOrEqual(11);
  });

  it('removes a deleted document from the graph, keeping what other documents still mention', async () => {
    expect((await call(alice, 'GET', `/v1/graph/entities/${entity('Microsoft Azure')}`)).status).toBe(200);
    const deleted = await call(alice, 'DELETE', `/v1/documents/${docs['english']}`);
    expect(deleted.status).toBe(204);
    expect((await call(alice, 'GET', `/v1/graph/entities/${entity('GPT-4')}`)).status).toBe(404);
    // Azure is also in the second document: kept.
    expect((await call(alice, 'GET', `/v1/graph/entities/${entity('Microsoft Azure')}`)).status).toBe(200);
    const neighbours = await call(alice, 'GET', `/v1/graph/entities/${entity('Microsoft Azure')}/neighbors`);
    expect(neighbours.body['neighbors'].map((n: Json) => n.entity.name)).not.toContain('GPT-4');
    for (const n of neighbours.body['neighbors']) expect(n.relation.documents).not.toContain(docs['english']);
  });
});
