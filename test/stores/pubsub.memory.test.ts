import { MemoryPubSub } from '../../src/stores/pubsub/memory-pubsub.js';
import { pubSubContract } from '../contract/pubsub.contract.js';

pubSubContract({
  name: 'embedded: in process',
  create: async () => {
    const bus = new MemoryPubSub();
    return [bus, bus];
  },
});
