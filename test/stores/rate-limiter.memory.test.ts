import { MemoryRateLimiter } from '../../src/stores/limits/memory-rate-limiter.js';
import { rateLimiterContract } from '../contract/rate-limiter.contract.js';

rateLimiterContract({
  name: 'in-process (embedded default and fail-open fallback)',
  create: () => new MemoryRateLimiter(),
});
