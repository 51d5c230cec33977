import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import { connectRedis, type RedisClient, whenReady } from './connection.js';

/** The shared Redis command connection (one server or a cluster), answering; undefined on the embedded default. */
export async function openRedis(
  config: Config,
  deps: { logger: Logger; closers: Closers },
): Promise<RedisClient | undefined> {
  if (config.redis.mode !== 'external') return undefined;
  const client = connectRedis(config.redis, deps.logger, 'command', { commandTimeoutMs: config.dependencyTimeoutMs });
  deps.closers.add('redis', () => client.disconnect());
  await whenReady(client);
  await client.ping();
  return client;
}
