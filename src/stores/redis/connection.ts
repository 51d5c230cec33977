import { Redis } from 'ioredis';
import type { Logger } from '../../logger.js';

/**
 * A Redis connection with the settings every user of Redis in the server shares. Connection
 * errors are logged once per outage (ioredis retries by itself), never thrown at the process.
 */
export function createRedis(url: string, logger: Logger, name: string, options: { offlineQueue?: boolean } = {}): Redis {
  const client = new Redis(url, {
    // Without the offline queue a command fails at once while disconnected instead of
    // waiting and running late (which a rate limiter must not do).
    enableOfflineQueue: options.offlineQueue ?? true,
    connectionName: `voicehelper:${name}`,
    maxRetriesPerRequest: 2,
    // Auto-pipelining is off: when a connection drops with commands in flight, ioredis 5's
    // auto-pipeline throws an uncaught TypeError (results[i] is not iterable) that would
    // take the node down.
    enableAutoPipelining: false,
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

/** Resolves once the connection is ready (needed before use without the offline queue). */
export function whenReady(client: Redis, timeoutMs = 10_000): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Redis did not become ready in time')), timeoutMs);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
