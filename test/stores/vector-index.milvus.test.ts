import { MilvusVectorIndex } from '../../src/stores/vectors/milvus-vector-index.js';
import { vectorIndexContract } from '../contract/vector-index.contract.js';
import { serviceEnv, uniqueName } from '../helpers/env.js';

vectorIndexContract({
  name: 'Milvus',
  create: async () =>
    new MilvusVectorIndex({
      address: serviceEnv().MILVUS_ADDRESS,
      token: undefined,
      collection: uniqueName('contract'),
      dimension: 8,
      searchEf: 64,
    }),
});
