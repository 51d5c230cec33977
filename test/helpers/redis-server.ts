import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { freePort } from './ports.js';

/** A redis-server of a test's own, on a free loopback port, without persistence. */
export interface PrivateRedis {
  port: number;
  url: string;
  /** Kills it at once (SIGKILL), as a crash would. */
  stop(): void;
}

/** What a private redis-server is besides standalone and open. */
export interface PrivateRedisOptions {
  /** Required of clients (and of replicas, between masters). */
  password?: string;
  /** Cluster-enabled, keeping its cluster state in this directory. */
  clusterHome?: string;
}

/**
 * Starts one. Another process can take a port between freePort() and the server's bind:
 * then it exits at start, and it is started again on other ports.
 */
export async function startPrivateRedis(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    if (options.password !== undefined) args.push('--requirepass', options.password, '--masterauth', options.password);
    if (options.clusterHome !== undefined) {
      let bus = await freePort();
      while (bus === port) bus = await freePort();
      args.push('--cluster-enabled', 'yes', '--cluster-port', String(bus), '--cluster-node-timeout', '1000');
      // A replica takes over whatever its replication lag: on a loaded test machine the link to
      // its master can lag past Redis's validity window, and the failover would never come.
      args.push('--cluster-replica-validity-factor', '0');
      args.push('--cluster-config-file', path.join(options.clusterHome, 'nodes.conf'), '--dir', options.clusterHome);
    }
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    if (await answers(port, child, options.password)) {
      const auth = options.password === undefined ? '' : `:${encodeURIComponent(options.password)}@`;
      return { port, url: `redis://${auth}127.0.0.1:${port}`, stop: () => void child.kill('SIGKILL') };
    }
    child.kill('SIGKILL');
  }
  throw new Error('a private redis-server did not start in 5 attempts');
}

/** redis-cli against a local server; its standard output. */
export function redisCli(port: number, password: string | undefined, ...args: string[]): string {
  const auth = password === undefined ? [] : ['-a', password, '--no-auth-warning'];
  return spawnSync('redis-cli', ['-p', String(port), ...auth, ...args], { encoding: 'utf8' }).stdout;
}

/** Whether the server answers PING within 10 s; false as soon as its process has ended. */
async function answers(port: number, child: ChildProcess, password: string | undefined): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if (redisCli(port, password, 'ping').includes('PONG')) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
