import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually } from '../helpers/cluster.js';
import { clusterEnv, LIFTED_LIMITS, tempDir } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { type NodeProcess, startNodeProcess, waitForReady } from '../helpers/node-process.js';
import { freePort } from '../helpers/ports.js';

/** The promise: a change reaches every running node within a minute, however it was made. */
const PROMISED_MS = 60_000;
/** Short, so that the tests take seconds; the default is 15 s. */
const SWEEP = { PRIVILEGE_SWEEP_MS: '300' };

/**
 * Each deployment's variables for a node and the CLI: the embedded default (no REDIS_URL:
 * the node's cache and pub/sub live in its process, which the CLI cannot reach), and the
 * real services with Redis (the CLI announces its changes there).
 */
const deployments: [string, () => Promise<Record<string, string>>][] = [
  [
    'the embedded default',
    async () => ({ DATA_DIR: tempDir(), EMBEDDED_PG_PORT: String(await freePort()), ...LIFTED_LIMITS, ...SWEEP }),
  ],
  [
    'Redis and PostgreSQL',
    async () => {
      const { PORT: _port, NODE_ID: _node, ...env } = clusterEnv(SWEEP);
      return env;
    },
  ],
];

/**
 * Account changes made with the `voicehelper` CLI, a process of its own, reach a node
 * running as a process of its own (never in the test's process, where they could share
 * memory) within the promised minute, whether or not the node can hear the CLI's
 * announcements: the node's privilege sweep reads them from PostgreSQL.
 */
describe.each(deployments)('account changes from the CLI reach a running node (%s)', (_name, deployment) => {
  let env: Record<string, string>;
  let node: NodeProcess;
  let url: string;
  const sockets: TestSocket[] = [];

  const cli = async (args: string[], stdin = '') => {
    const run = await runCli(args, env, stdin);
    expect(run, run.stderr).toMatchObject({ code: 0 });
    return run.stdout.trim();
  };
  const email = (tag: string) => `${tag}-${randomUUID().slice(0, 8)}@example.test`;
  const status = async (path: string, token: string) => (await call(url, 'GET', path, { token })).status;

  beforeAll(async () => {
    env = await deployment();
    const port = await freePort();
    node = startNodeProcess({ ...env, PORT: String(port), LOG_LEVEL: 'warn' });
    url = `http://127.0.0.1:${port}`;
    await waitForReady(url, node);
  }, 90_000);
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    if (node?.child.exitCode === null) {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  // Each CLI call is a cold Node process (a few seconds with its connections); this makes eight.
  it('a demoted admin is refused (old and refreshed tokens), a revoked key loses its socket, a disabled or forgotten user is refused', async () => {
    // An admin signed in, whose role the node holds (memory and cache) from a first request.
    const admin = email('admin');
    await cli(['users', 'create', '--email', admin, '--role', 'admin'], 'a long password\n');
    const login = await call(url, 'POST', '/v1/auth/login', { body: { email: admin, password: 'a long password' } });
    expect(login.status).toBe(200);
    const adminToken = login.body['accessToken'] as string;
    expect(await status('/v1/admin/audit-logs', adminToken)).toBe(200);

    // A worker's key, exchanged for a token with an open socket.
    const worker = email('svc');
    await cli(['users', 'create', '--email', worker, '--role', 'service'], 'a long password\n');
    const key = await cli(['keys', 'create', '--user', worker, '--name', 'asr-1']);
    const exchanged = await call(url, 'POST', '/v1/auth/token', { body: { apiKey: key } });
    expect(exchanged.status).toBe(200);
    const keyToken = exchanged.body['accessToken'] as string;
    const socket = await openClient(url, { token: keyToken });
    sockets.push(socket);
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });

    // Two users the node has seen.
    const users = [];
    for (const tag of ['disabled', 'forgotten']) {
      const address = email(tag);
      const registered = await call(url, 'POST', '/v1/auth/register', {
        body: { email: address, username: tag, password: 'a long password' },
      });
      expect(registered.status).toBe(201);
      const token = registered.body['accessToken'] as string;
      expect(await status('/v1/documents', token)).toBe(200);
      users.push({ email: address, token });
    }
    const [disabled, forgotten] = users as [(typeof users)[number], (typeof users)[number]];

    await cli(['users', 'roles', admin, 'user']);
    await eventually(async () => expect(await status('/v1/admin/audit-logs', adminToken)).toBe(403), PROMISED_MS);
    const refreshed = await call(url, 'POST', '/v1/auth/refresh', {
      body: { refreshToken: login.body['refreshToken'] },
    });
    expect(refreshed.status).toBe(200);
    expect(await status('/v1/admin/audit-logs', refreshed.body['accessToken'] as string)).toBe(403);

    const notices = collect(socket, 'sys:disconnect');
    const keyId = /^vhk_([0-9a-f-]{36})\./.exec(key)?.[1] as string;
    await cli(['keys', 'revoke', keyId]);
    await eventually(() => expect(notices).toEqual([{ reason: 'logged_out', reconnect: false }]), PROMISED_MS);
    expect(await status('/v1/documents', keyToken)).toBe(401);

    await cli(['users', 'disable', disabled.email]);
    await eventually(async () => expect(await status('/v1/documents', disabled.token)).toBe(401), PROMISED_MS);
    await cli(['users', 'forget', forgotten.email]);
    await eventually(async () => expect(await status('/v1/documents', forgotten.token)).toBe(401), PROMISED_MS);
  }, 180_000);
});
