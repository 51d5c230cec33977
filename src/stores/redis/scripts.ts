import { readFileSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../util/package-root.js';
import type { RedisClient } from './connection.js';

/** Lua scripts kept as `<name>-<numKeys>.lua` files beside the source. */
const SCRIPT_DIR = path.join(packageRoot(), 'src', 'stores', 'redis', 'scripts');

/**
 * Loads a script file once and defines it as a command on the connection (ioredis sends
 * EVALSHA and falls back to EVAL after a Redis restart). The key count comes from the name.
 */
export function defineScript(redis: RedisClient, file: string, command: string): void {
  const match = /-(\d+)\.lua$/.exec(file);
  if (match === null) throw new Error(`script ${file} must be named <name>-<numKeys>.lua`);
  if (typeof (redis as unknown as Record<string, unknown>)[command] === 'function') return;
  redis.defineCommand(command, {
    numberOfKeys: Number(match[1]),
    lua: readFileSync(path.join(SCRIPT_DIR, file), 'utf8'),
  });
}
