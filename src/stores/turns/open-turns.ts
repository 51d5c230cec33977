import type { RedisClient } from '../redis/connection.js';
import { MemoryTurnStore } from './memory-turn-store.js';
import { RedisTurnStore } from './redis-turn-store.js';
import type { TurnStore } from './turn-store.js';

/** The turn clocks: on the shared Redis when there is one, in process otherwise. */
export function openTurnStore(deps: { redis: RedisClient | undefined }): TurnStore {
  return deps.redis === undefined ? new MemoryTurnStore() : new RedisTurnStore(deps.redis);
}
