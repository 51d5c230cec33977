import { MemoryLockManager } from '../../src/stores/locks/memory-lock-manager.js';
import { lockManagerContract } from '../contract/lock-manager.contract.js';

lockManagerContract({
  name: 'embedded: in process',
  create: async () => {
    const locks = new MemoryLockManager();
    return [locks, locks];
  },
});
