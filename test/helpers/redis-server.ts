import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { freePort } from './ports.js';

/** A redis-server of a test's own, on a free loopback port, without persistence. */
export interface PrivateRedis {
  url: string;
  stop(): void;
}

/**
 * Starts one. Another process can take the port between freePort() and the server's bind:
 * then it exits at start, and it is started again on another port.
 */
export async function startPrivateRedis(): Promise<PrivateRedis> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    if (await answers(port, child)) {
      return { url: `redis://127.0.0.1:${port}`, stop: () => void child.kill('SIGKILL') };
    }
    child.kill('SIGKILL');
  }
  throw new Error('a private redis-server did not start in 5 attempts');
}

/** Whether the server answers PING within 10 s; false as soon as its process has ended. */
async function answers(port: number, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout.includes('PONG')) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
