import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '../logger.js';

/** What a `Supervisor` runs, and how. */
export interface SupervisorOptions {
  /** Name of the child in log lines (`assistant`). */
  name: string;
  /** The executable. */
  command: string;
  /** Its arguments. */
  args: readonly string[];
  /** Its whole environment (nothing is inherited besides). */
  env: Readonly<Record<string, string>>;
  logger: Logger;
  /** The first wait before a restart; doubled after each exit that came soon after its start. */
  minBackoffMs: number;
  /** The longest wait before a restart. */
  maxBackoffMs: number;
  /** A child that ran at least this long is restarted after `minBackoffMs` again. */
  healthyAfterMs: number;
  /** How long `stop` waits after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  /** Told of each start (`true`, with the pid) and each exit (`false`): for metrics. */
  onChange: (running: boolean) => void;
}

/** The longest line of the child's output logged; the rest of it is cut. */
const MAX_LINE = 4_096;

/** The level a line of a Python child's log is written at, by the level name it carries. */
function levelOf(line: string): 'error' | 'warn' | 'info' {
  if (/\b(CRITICAL|ERROR|FATAL)\b|^Traceback /.test(line)) return 'error';
  if (/\bWARN(ING)?\b/.test(line)) return 'warn';
  return 'info';
}

/**
 * Keeps one child process running: starts it, and whenever it exits starts it again after
 * a backoff (`minBackoffMs`, doubling up to `maxBackoffMs` while it keeps exiting soon after
 * starting). Each line the child writes on stdout or stderr is logged through the node's
 * logger with the child's name and pid. `stop` ends it (SIGTERM, then SIGKILL after
 * `stopGraceMs`) and starts no other.
 *
 * The child's stdin is a pipe that the supervisor never writes to and never closes: the
 * child sees end-of-file there only when this process is gone, however it went (SIGKILL
 * included), which is how a child that watches its stdin knows to exit rather than outlive
 * its node. It runs in a process group of its own, so that a terminal's Ctrl-C reaches the
 * node alone, which then stops it in order.
 */
export class Supervisor {
  private child: ChildProcess | undefined;
  private stopped = false;
  private backoffMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  private exited: Promise<void> = Promise.resolve();
  private starts = 0;

  constructor(private readonly options: SupervisorOptions) {
    this.backoffMs = options.minBackoffMs;
  }

  /** The pid of the running child; undefined between a child's exit and its restart. */
  get pid(): number | undefined {
    return this.child?.exitCode === null && this.child.signalCode === null ? this.child.pid : undefined;
  }

  /** How many times a child was started. */
  get startCount(): number {
    return this.starts;
  }

  /** Starts the child (once; a later call does nothing). */
  start(): void {
    if (this.stopped || this.child !== undefined || this.restartTimer !== undefined) return;
    this.launch();
  }

  private launch(): void {
    this.restartTimer = undefined;
    if (this.stopped) return;
    const { name, command, args, env, logger } = this.options;
    const startedAt = performance.now();
    const child = spawn(command, [...args], {
      env: { ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    this.starts++;
    const log = logger.child({ [name]: child.pid ?? null });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
        if (line.trim() === '') return;
        log[levelOf(line)](line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}...` : line);
      });
    }
    // Nothing is ever written; a child gone before reading it must not fail the node.
    child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        log.error({ err: error }, `${name} could not be started`);
        // No 'exit' follows a failed spawn.
        if (child.pid === undefined) this.exitedNow(child, startedAt, null, null, resolve);
      });
      child.once('exit', (code, signal) => this.exitedNow(child, startedAt, code, signal, resolve));
    });
    if (child.pid !== undefined) {
      log.info({ pid: child.pid, command }, `${name} started`);
      this.options.onChange(true);
    }
  }

  private exitedNow(
    child: ChildProcess,
    startedAt: number,
    code: number | null,
    signal: NodeJS.Signals | null,
    resolve: () => void,
  ): void {
    resolve();
    if (this.child !== child) return;
    this.child = undefined;
    this.options.onChange(false);
    const { name, logger, minBackoffMs, maxBackoffMs, healthyAfterMs } = this.options;
    if (this.stopped) return;
    if (performance.now() - startedAt >= healthyAfterMs) this.backoffMs = minBackoffMs;
    const delayMs = this.backoffMs;
    this.backoffMs = Math.min(maxBackoffMs, this.backoffMs * 2);
    logger.warn({ [name]: child.pid ?? null, code, signal, restartInMs: delayMs }, `${name} exited; restarting it`);
    this.restartTimer = setTimeout(() => this.launch(), delayMs);
  }

  /** Ends the child (SIGTERM, SIGKILL after the grace) and starts no other; resolves once it exited. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.restartTimer !== undefined) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (child === undefined) return;
    const { name, logger, stopGraceMs } = this.options;
    child.kill('SIGTERM');
    const kill = setTimeout(() => {
      logger.warn({ [name]: child.pid ?? null }, `${name} did not stop on SIGTERM; killing it`);
      child.kill('SIGKILL');
    }, stopGraceMs);
    await this.exited;
    clearTimeout(kill);
    child.stdin?.destroy();
    logger.info({ [name]: child.pid ?? null }, `${name} stopped`);
  }
}
