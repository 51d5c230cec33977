import { MemoryStreamBuffer } from '../../src/stores/streams/memory-stream-buffer.js';
import { streamBufferContract } from '../contract/stream-buffer.contract.js';

streamBufferContract({
  name: 'embedded: in process',
  create: async ({ maxBytes, ttlSeconds }) => {
    const buffer = new MemoryStreamBuffer(maxBytes, ttlSeconds);
    return [buffer, buffer];
  },
});
