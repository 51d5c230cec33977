import { MemoryPresenceStore } from '../../src/stores/presence/memory-presence-store.js';
import { presenceStoreContract } from '../contract/presence-store.contract.js';

presenceStoreContract({
  name: 'embedded: in process (one node)',
  create: async () => {
    const presence = new MemoryPresenceStore();
    return [
      { presence, nodeId: 'node' },
      { presence, nodeId: 'node' },
    ];
  },
  separateNodes: false,
});
