import { Neo4jGraphStore } from '../../src/stores/graph/neo4j-graph-store.js';
import { graphStoreContract } from '../contract/graph-store.contract.js';
import { serviceEnv } from '../helpers/env.js';

graphStoreContract({
  name: 'Neo4j over Bolt',
  create: async () => {
    const env = serviceEnv();
    return new Neo4jGraphStore({
      uri: env.NEO4J_URI,
      user: env.NEO4J_USER,
      password: env.NEO4J_PASSWORD,
      retryMs: 10_000,
    });
  },
});
