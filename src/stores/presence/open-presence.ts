import type { Config } from '../../config/config.js';
import type { RedisClient } from '../redis/connection.js';
import { MemoryPresenceStore } from './memory-presence-store.js';
import type { PresenceStore } from './presence-store.js';
import { RedisPresenceStore } from './redis-presence-store.js';

/** Presence and node liveness: on the shared Redis when there is one, in process otherwise. */
export function openPresence(config: Config, deps: { redis: RedisClient | undefined }): PresenceStore {
  return deps.redis === undefined
    ? new MemoryPresenceStore()
    : new RedisPresenceStore(deps.redis, config.nodeId, config.streams.nodeAliveMs);
}
