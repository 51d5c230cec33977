import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { endProcess, freePort, waitFor } from './services.js';

/** Limits lifted for the load (the harness tests faults, not limits). */
const LIFTED = '100000000/1s';
const LIMITS = [
  'MESSAGE_SEND',
  'MESSAGE_DELTA',
  'CONNECTIONS',
  'LOGIN',
  'LOGIN_IP',
  'REGISTER',
  'SESSION_JOIN',
  'SESSION_CREATE',
  'SESSION_LEAVE',
  'SESSION_LIST',
  'SESSION_UPDATE',
  'HISTORY_GET',
  'SYS_PING',
  'HTTP',
  'AUDIO_START',
  'AUDIO_CHUNK',
  'AUDIO_END',
  'AUDIO_URL',
  'RETRIEVE',
];

/** One server process of the cluster, started from `dist/`. */
export class HarnessNode {
  private child: ChildProcess | undefined;
  private stopping = false;
  /** Exits the harness did not cause (a crash), as `exit code C` or `signal S`. */
  readonly crashes: string[] = [];
  readonly url: string;

  constructor(
    readonly index: number,
    private readonly port: number,
    private readonly env: Record<string, string>,
    private readonly dir: string,
    private readonly dataDir: string,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** `dataDir` is shared by the cluster's nodes (objects, vectors and graph stay embedded, on one disk). */
  static async create(index: number, dir: string, dataDir: string, env: Record<string, string>): Promise<HarnessNode> {
    mkdirSync(dir, { recursive: true });
    return new HarnessNode(index, await freePort(), env, dir, dataDir);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /**
   * Whether a load balancer would send new connections here: from the moment `/readyz`
   * first answered 200 after a start until a stop begins (a draining node fails `/readyz`
   * at once), and only while the process runs.
   */
  get routable(): boolean {
    return this.running && this.serving;
  }

  private serving = false;

  /** Starts the process and resolves when `/readyz` answers 200; returns how long that took. */
  async start(): Promise<number> {
    const started = Date.now();
    const log = createWriteStream(path.join(this.dir, 'node.log'), { flags: 'a' });
    const env: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...Object.fromEntries(LIMITS.map((name) => [`RATE_LIMIT_${name}`, LIFTED])),
      LOG_LEVEL: process.env['CHAOS_LOG_LEVEL'] ?? 'warn',
      PORT: String(this.port),
      HOST: '127.0.0.1',
      DATA_DIR: this.dataDir,
      ...this.env,
    };
    const main = path.join(process.cwd(), 'dist', 'src', 'main.js');
    this.stopping = false;
    const child = spawn(process.execPath, [main], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.once('exit', (code, signal) => {
      if (!this.stopping) this.crashes.push(signal === null ? `exit code ${code}` : `signal ${signal}`);
    });
    this.child.stdout?.pipe(log);
    this.child.stderr?.pipe(log);
    await waitFor(`node ${this.index}`, async () => (await fetch(`${this.url}/readyz`)).status === 200, 60_000);
    this.serving = true;
    return Date.now() - started;
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    this.stopping = true;
    this.serving = false;
    await endProcess(this.child, signal);
  }

  /** Whether `/readyz` answers 200 now (it may take DEPENDENCY_TIMEOUT_MS, 2 s, when an optional store hangs). */
  async ready(): Promise<boolean> {
    return (await this.readiness()).startsWith('200');
  }

  /** `/readyz` as status and body, or why it did not answer (for the report of a node that stays unready). */
  async readiness(): Promise<string> {
    try {
      const response = await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(5_000) });
      return `${response.status} ${await response.text()}`;
    } catch (error) {
      return `no answer: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
}
