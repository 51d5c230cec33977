import type pg from 'pg';
import { BackupRefused } from '../backup/errors.js';
import type { Config } from '../config/config.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { AppError } from '../errors/app-error.js';
import { createLogger, type Logger } from '../logger.js';
import { type Accounts, openAccounts } from '../services/accounts.js';
import { startEmbeddedPostgres } from '../stores/postgres/embedded-postgres.js';
import { createPool } from '../stores/postgres/pool.js';
import { openStores, type Stores } from '../stores/stores.js';
import { loadOrCreateSecret } from '../util/local-secrets.js';

/**
 * Exit codes of `voicehelper`, the same for every command so that scripts can branch on
 * them (listed in `voicehelper --help`).
 */
export const EXIT = {
  ok: 0,
  /** Anything unexpected (the message says what). */
  failed: 1,
  /** Bad arguments or configuration. */
  usage: 2,
  /** The user, key, migration or backup named does not exist. */
  notFound: 3,
  /** Refused: the email exists, the stores are not empty, the backup is damaged, forged or unauthenticated. */
  refused: 4,
  /** A store could not be reached. */
  unavailable: 5,
} as const;

/** A failure with the exit code it maps to. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

const APP_ERROR_EXIT: Record<string, number> = {
  VALIDATION: EXIT.usage,
  NOT_FOUND: EXIT.notFound,
  CONFLICT: EXIT.refused,
  FORBIDDEN: EXIT.refused,
  UNAVAILABLE: EXIT.unavailable,
  DEPENDENCY_TIMEOUT: EXIT.unavailable,
};

/** Runs a command's work, printing a failure on stderr and exiting with its code. */
export async function runCommand(work: () => Promise<void>): Promise<void> {
  try {
    await work();
    process.exitCode = EXIT.ok;
  } catch (error) {
    const { message, code } = describeFailure(error);
    process.stderr.write(`error: ${message}\n`);
    process.exitCode = code;
  }
}

function describeFailure(error: unknown): { message: string; code: number } {
  if (error instanceof CliError) return { message: error.message, code: error.exitCode };
  if (error instanceof BackupRefused) return { message: error.message, code: EXIT.refused };
  if (error instanceof ConfigError) return { message: `configuration: ${error.problems.join('; ')}`, code: EXIT.usage };
  if (error instanceof AppError) return { message: error.message, code: APP_ERROR_EXIT[error.code] ?? EXIT.failed };
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string }).code;
  if (code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'ENOTFOUND')
    return { message, code: EXIT.unavailable };
  return { message, code: EXIT.failed };
}

/** The configuration (the server's variables) and a logger that writes warnings to stderr only. */
export function cliSetup(): { config: Config; logger: Logger } {
  const config = loadConfig();
  const level = process.env['LOG_LEVEL'] === undefined ? 'warn' : config.logLevel;
  const logger = createLogger({ level, nodeId: `${config.nodeId}-cli`, destination: 2 });
  return { config, logger };
}

/**
 * A pool on the server's PostgreSQL: DATABASE_URL, or the embedded one, attached to the
 * node that runs it (never a second PostgreSQL on the same data directory) or started for
 * the command when no node runs.
 */
export async function withDatabase<T>(
  work: (pool: pg.Pool, context: { config: Config; logger: Logger }) => Promise<T>,
): Promise<T> {
  const { config, logger } = cliSetup();
  let url: string;
  let stop: () => Promise<void> = async () => undefined;
  if (config.postgres.mode === 'external') {
    url = config.postgres.url;
  } else {
    const password = await loadOrCreateSecret(config.dataDir, 'postgres-password');
    const embedded = await startEmbeddedPostgres(
      { dir: config.postgres.dir, port: config.postgres.port, password, attach: true },
      logger,
    );
    url = embedded.url;
    stop = () => embedded.stop();
  }
  const pool = createPool(
    { url, max: 4, applicationName: 'voicehelper:cli', timeouts: config.database.timeouts },
    logger,
  );
  try {
    return await work(pool, { config, logger });
  } finally {
    await pool.end().catch(() => undefined);
    await stop();
  }
}

/** Everything a node opens (stores and account services), for commands that change data. */
export interface CliContext {
  config: Config;
  logger: Logger;
  stores: Stores;
  accounts: Accounts;
}

/** Longest the CLI waits for its announcements before it exits anyway. */
const ANNOUNCE_TIMEOUT_MS = 10_000;

/**
 * Opens every store as a node would, without migrating (MIGRATE_ON_START is for nodes;
 * the CLI has `migrate`), attached to a running embedded PostgreSQL when there is one.
 */
export async function withStores<T>(
  work: (context: CliContext) => Promise<T>,
  overrides: Partial<Config> = {},
): Promise<T> {
  const { config: loaded, logger } = cliSetup();
  const config: Config = { ...loaded, migrateOnStart: false, ...overrides };
  const stores = await openStores(config, { logger, publicUrl: () => config.publicUrl, attachPostgres: true });
  let accounts: Accounts | undefined;
  try {
    accounts = await openAccounts(config, stores, logger);
    return await work({ config, logger, stores, accounts });
  } finally {
    // What the command changed is announced in the background (user changes, revoked
    // families): it goes out before the connections close, or the nodes' privilege sweep
    // reads the change from PostgreSQL instead.
    if (accounts !== undefined && !(await accounts.settled(ANNOUNCE_TIMEOUT_MS)))
      logger.warn(
        `announcing the change to the nodes did not finish within ${ANNOUNCE_TIMEOUT_MS / 1000} s; ` +
          'they apply it within PRIVILEGE_SWEEP_MS from PostgreSQL',
      );
    await accounts?.stop();
    await stores.close();
  }
}

/** Prints rows as aligned columns (or JSON lines with `json`). */
export function printTable(rows: ReadonlyArray<Record<string, unknown>>, json: boolean): void {
  if (json) {
    for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const columns = Object.keys(rows[0] as object);
  const cell = (value: unknown) =>
    value === null || value === undefined
      ? '-'
      : value instanceof Date
        ? value.toISOString()
        : Array.isArray(value)
          ? value.join(',')
          : String(value);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}
