import { Redis } from 'ioredis';
import type { Logger } from '../../logger.js';

/**
 * A Redis connection with the settings every user of Redis in the server shares. Connection
 * errors are logged once per outage (ioredis retries by itself), never thrown at the process.
 */
export function createRedis(url: string, logger: Logger, name: string): Redis {
  const client = new Redis(url, {
    connectionName: `voicehelper:${name}`,
    maxRetriesPerRequest: 2,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  });
  let down = false;
  client.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ err: error, connection: name }, 'Redis connection failed; retrying');
  });
  client.on('ready', () => {
    if (down) logger.info({ connection: name }, 'Redis connection restored');
    down = false;
  });
  return client;
}
