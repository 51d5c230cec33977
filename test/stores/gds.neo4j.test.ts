import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropStaleProjections } from '../../src/stores/graph/neo4j-gds.js';
import { Neo4jGraphStore } from '../../src/stores/graph/neo4j-graph-store.js';
import { serviceEnv, uniqueName } from '../helpers/env.js';

describe('GDS projections left behind (Neo4j harness with GDS)', () => {
  let store: Neo4jGraphStore;

  beforeAll(async () => {
    const env = serviceEnv();
    store = new Neo4jGraphStore({
      uri: env.NEO4J_URI,
      user: env.NEO4J_USER,
      password: env.NEO4J_PASSWORD,
      retryMs: 10_000,
    });
    await store.init();
  });
  afterAll(() => store.close());

  const project = (name: string) =>
    store.run(
      'write',
      'MATCH (a:Entity) WITH a LIMIT 1 WITH gds.graph.project($name, a, null) AS g RETURN g.graphName AS name',
      { name },
    );
  const names = async () =>
    (await store.run('read', 'CALL gds.graph.list() YIELD graphName RETURN collect(graphName) AS names'))[0]?.get(
      'names',
    ) as string[];

  it("drops our old projections and leaves recent ones and other applications' alone", async () => {
    await store.upsertEntities([
      {
        id: uniqueName('e'),
        ownerId: uniqueName('o'),
        name: 'x',
        type: 'T',
        description: '',
        properties: {},
        manual: true,
      },
    ]);
    // A prefix of this test's own: algorithms of other tests may be running on the same server.
    const prefix = `${uniqueName('voicehelper-test')}-`;
    const [ours, foreign] = [`${prefix}1`, uniqueName('someone-else')];
    await project(ours);
    await project(foreign);
    expect(await dropStaleProjections(store, 60 * 60_000, prefix)).toBe(0);
    expect(await names()).toEqual(expect.arrayContaining([ours, foreign]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await dropStaleProjections(store, 10, prefix)).toBe(1);
    const left = await names();
    expect(left).not.toContain(ours);
    expect(left).toContain(foreign);
    await store.run('write', 'CALL gds.graph.drop($name, false) YIELD graphName RETURN graphName', { name: foreign });
  });
});
