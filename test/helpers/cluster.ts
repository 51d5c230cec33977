import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { destination, pino } from 'pino';
import { expect } from 'vitest';
import type { Role } from '../../protocol/roles.js';
import { type App, buildApp } from '../../src/app.js';
import { connectRedis, type RedisClient } from '../../src/stores/redis/connection.js';
import { packageRoot } from '../../src/util/package-root.js';
import { openClient, request, type TestSocket } from './client.js';
import { testPool } from './database.js';
import { childProcessEnv, clusterConfig, clusterEnv, suiteCollection, uniqueName } from './env.js';
import { freePort } from './ports.js';

/** Settings that make cluster timers fast enough for tests. */
export const FAST_CLUSTER = {
  STREAM_IDLE_MS: '1500',
  STREAM_SWEEP_MS: '200',
  STREAM_RESUME_GRACE_MS: '400',
  NODE_ALIVE_MS: '3000',
};

/** Several nodes in this process, sharing the test Redis and PostgreSQL. */
export class TestCluster {
  readonly nodes: App[] = [];
  readonly urls: string[] = [];
  private readonly sockets: TestSocket[] = [];
  private readonly children: ChildProcess[] = [];
  private redisClient: RedisClient | undefined;
  private sqlPool: pg.Pool | undefined;
  // The nodes of one cluster share one queue, as a deployment does, and the suite's vector
  // collection of their dimension (tests keep to their own owners' vectors).
  private readonly shared: Record<string, string>;

  private constructor(private readonly overrides: Record<string, string>) {
    this.shared = {
      MILVUS_COLLECTION: suiteCollection(overrides['EMBEDDING_DIM'] ?? '8'),
      INGEST_QUEUE: uniqueName('ingest'),
      REDIS_NAMESPACE: uniqueName('ns'),
    };
  }

  /**
   * Starts `count` nodes. They keep to a Redis namespace of their own, as a deployment on a
   * shared Redis would: every node sweeps all open streams it can see, and one whose database
   * lacks a stream's session (another test's cluster) would drop the stream.
   */
  static async start(count: number, overrides: Record<string, string> = {}): Promise<TestCluster> {
    const cluster = new TestCluster(overrides);
    for (let i = 0; i < count; i++) await cluster.addNode();
    return cluster;
  }

  /** Starts one more node of this cluster, with `extra` settings of its own (a proxied service URL, say). */
  async addNode(extra: Record<string, string> = {}): Promise<App> {
    const config = clusterConfig({ ...FAST_CLUSTER, ...this.shared, ...this.overrides, ...extra });
    // TEST_LOG_FILE=path keeps the nodes' logs (at TEST_LOG_LEVEL, default debug) for post-mortems.
    const file = process.env['TEST_LOG_FILE'];
    const logger =
      file === undefined
        ? undefined
        : pino(
            {
              level: process.env['TEST_LOG_LEVEL'] ?? 'debug',
              base: { node: config.nodeId, test: expect.getState().testPath },
            },
            destination({ dest: file, append: true, sync: true }),
          );
    const app = await buildApp(config, logger === undefined ? {} : { logger });
    const { port } = await app.listen(0, '127.0.0.1');
    this.nodes.push(app);
    this.urls.push(`http://127.0.0.1:${port}`);
    return app;
  }

  /**
   * Starts one more node of this cluster as a process of its own (from dist/, which `npm
   * test` builds), so that a test can kill it with SIGKILL: nothing of it runs afterwards.
   * Killed, if still running, by stop().
   */
  async spawnNode(extra: Record<string, string> = {}): Promise<{ url: string; process: ChildProcess }> {
    const main = path.join(packageRoot(), 'dist', 'src', 'main.js');
    if (!existsSync(main)) throw new Error('build first (npm test does)');
    const port = await freePort();
    const child = spawn(process.execPath, [main], {
      env: {
        ...childProcessEnv(),
        ...clusterEnv({
          ...FAST_CLUSTER,
          ...this.shared,
          ...this.overrides,
          ...extra,
          PORT: String(port),
          NODE_ID: `spawned-${port}`,
          LOG_LEVEL: 'warn',
        }),
      },
      stdio: 'ignore',
    });
    this.children.push(child);
    const url = `http://127.0.0.1:${port}`;
    await eventually(async () => expect((await fetch(`${url}/readyz`)).status).toBe(200), 30_000);
    return { url, process: child };
  }

  /** A new user with the given role, and an access token for it. */
  async user(role: Role = 'user'): Promise<{ id: string; token: string }> {
    const app = this.nodes[0] as App;
    const user = await app.stores.db.users.create({
      email: `${randomUUID()}@example.test`,
      username: 'test',
      passwordHash: 'unused',
    });
    if (role !== 'user') await app.stores.db.users.setRoles(user.id, [role], null);
    return { id: user.id, token: await app.tokens.sign({ userId: user.id, role }) };
  }

  /** A connected socket of `user` on node `index`. */
  async connect(index: number, user: { token: string }): Promise<TestSocket> {
    const socket = await openClient(this.urls[index] as string, { token: user.token });
    this.sockets.push(socket);
    return socket;
  }

  /** Creates a session as `socket` and returns its id. */
  async session(socket: TestSocket, title = 'test'): Promise<string> {
    const ack = await request<{ session: { id: string } }>(socket, 'session:create', { title });
    if (!ack.ok) throw new Error(`session:create failed: ${JSON.stringify(ack.error)}`);
    return ack.data.session.id;
  }

  /**
   * A connection of the test's own to the Redis the nodes share, for looking at their keys
   * (the stores keep their Redis connections to themselves). Closed by stop().
   */
  redis(): RedisClient {
    if (this.redisClient === undefined) {
      const config = this.nodes[0]?.config.redis;
      if (config?.mode !== 'external') throw new Error('this cluster runs without Redis');
      this.redisClient = connectRedis(config, pino({ level: 'silent' }), 'test', { offlineQueue: true });
    }
    return this.redisClient;
  }

  /**
   * A pool of the test's own on the nodes' database, for looking at and changing rows (the
   * stores keep their pool to themselves). Closed by stop().
   */
  sql(): pg.Pool {
    if (this.sqlPool === undefined) {
      const config = this.nodes[0]?.config.postgres;
      if (config?.mode !== 'external') throw new Error('this cluster runs on the embedded PostgreSQL');
      this.sqlPool = testPool(config.url);
    }
    return this.sqlPool;
  }

  async stop(): Promise<void> {
    this.redisClient?.disconnect();
    this.redisClient = undefined;
    const sql = this.sqlPool;
    this.sqlPool = undefined;
    await sql?.end();
    for (const socket of this.sockets) socket.close();
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(this.nodes.map((node) => node.close()));
  }
}

/** Collects every payload of `event` on a socket. */
export function collect<T>(socket: TestSocket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

/** Waits until `check` passes or `timeoutMs` passes (then throws its last error). */
export async function eventually(check: () => void | Promise<void>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
