import { LocalEmbedder } from '../../src/stores/embeddings/local-embedder.js';
import { embedderContract } from '../contract/embedder.contract.js';

embedderContract({
  name: 'built-in local hashing embedder',
  create: (dimension) => new LocalEmbedder(dimension),
  // Pure computation: nothing to fail.
  failing: {},
});
