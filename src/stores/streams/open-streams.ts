import type { Config } from '../../config/config.js';
import type { RedisClient } from '../redis/connection.js';
import { MemoryStreamBuffer } from './memory-stream-buffer.js';
import { RedisStreamBuffer } from './redis-stream-buffer.js';
import type { StreamBuffer } from './stream-buffer.js';

/** Open streams' text: on the shared Redis when there is one (any node can commit it), in process otherwise. */
export function openStreamBuffer(config: Config, deps: { redis: RedisClient | undefined }): StreamBuffer {
  return deps.redis === undefined
    ? new MemoryStreamBuffer(config.messages.maxContentBytes)
    : new RedisStreamBuffer(deps.redis, config.messages.maxContentBytes);
}
