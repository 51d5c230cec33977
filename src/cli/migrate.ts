import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger } from '../logger.js';
import { startEmbeddedPostgres } from '../stores/postgres/embedded-postgres.js';
import { migrate, migrateDown } from '../stores/postgres/migrator.js';
import { createPool } from '../stores/postgres/pool.js';
import { loadOrCreateSecret } from '../util/local-secrets.js';

/**
 * `npm run migrate` applies pending migrations; `npm run migrate -- down [steps]` reverts
 * the newest ones (development only). Uses DATABASE_URL, or the embedded PostgreSQL.
 */
async function run(): Promise<void> {
  const [direction = 'up', stepsArg = '1'] = process.argv.slice(2);
  if (direction !== 'up' && direction !== 'down') throw new Error('usage: migrate [up | down [steps]]');
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, nodeId: `${config.nodeId}-migrate` });
  let stopEmbedded: (() => Promise<void>) | undefined;
  let url: string;
  if (config.postgres.mode === 'external') {
    url = config.postgres.url;
  } else {
    const password = await loadOrCreateSecret(config.dataDir, 'postgres-password');
    const embedded = await startEmbeddedPostgres({ dir: config.postgres.dir, port: config.postgres.port, password }, logger);
    stopEmbedded = () => embedded.stop();
    url = embedded.url;
  }
  const pool = createPool({ url, max: 2 }, logger);
  try {
    const count =
      direction === 'up' ? await migrate(pool, logger) : await migrateDown(pool, logger, Math.max(1, Number(stepsArg) || 1));
    logger.info({ direction, count }, 'migrations done');
  } finally {
    await pool.end();
    await stopEmbedded?.();
  }
}

run().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
    process.exit(2);
  }
  process.stderr.write(`migrate failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
