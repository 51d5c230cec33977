import { MemoryRateLimiter } from '../../src/stores/limits/memory-rate-limiter.js';
import { rateLimiterContract } from '../contract/rate-limiter.contract.js';

rateLimiterContract({
  name: 'embedded: in process (also the fail-open fallback)',
  create: () => new MemoryRateLimiter(),
});
