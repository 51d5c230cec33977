import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, cp, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/env.js';
import { type NodeProcess, startNodeProcess, waitForReady } from '../helpers/node-process.js';
import { freePort } from '../helpers/ports.js';

// These tests run the compiled server exactly as `npm start` does, with a clean environment
// (no service variables), so they prove the embedded default and the process lifecycle.
/** A signing key that passes every check. */
const STRONG = 'process-test-key-0123456789abcdefghij';

const running: NodeProcess[] = [];
afterEach(() => {
  for (const r of running.splice(0)) if (r.child.exitCode === null) r.child.kill('SIGKILL');
});

describe('the server process', () => {
  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ DATABASE_URL: 'nonsense', JWT_SECRET: STRONG }, 'DATABASE_URL'],
    [{ REDIS_URL: 'redis://r:6379' }, 'JWT_SECRET'],
  ])('stops at start with a message naming the bad variable (%j)', async (env, variable) => {
    const node = startNodeProcess(env);
    running.push(node);
    expect(await node.exited).toBe(2);
    expect(node.output()).toMatch(new RegExp(`^config error: ${variable}: `, 'm'));
  });

  // Every secret docker-compose.yml ever fell back to, and the vendors' defaults, on stores
  // nobody listens at: the node must stop before it connects anywhere.
  it.each([
    [{ JWT_SECRET: 'local-development-only-jwt-secret-change-me' }, 'JWT_SECRET'],
    [{ JWT_SECRET: 'x'.repeat(48) }, 'JWT_SECRET'],
    [{ METRICS_TOKEN: 'local-development-only-jwt-secret-change-me' }, 'METRICS_TOKEN'],
    [{ DATABASE_URL: 'postgres://voicehelper:local-dev-postgres@127.0.0.1:1/vh', JWT_SECRET: STRONG }, 'DATABASE_URL'],
    [{ REDIS_URL: 'redis://:local-dev-redis@127.0.0.1:1', JWT_SECRET: STRONG }, 'REDIS_URL'],
    [{ REDIS_URL: 'redis://:your_redis_password@127.0.0.1:1', JWT_SECRET: STRONG }, 'REDIS_URL'],
    [{ NEO4J_URI: 'bolt://127.0.0.1:1', NEO4J_PASSWORD: 'local-dev-neo4j' }, 'NEO4J_PASSWORD'],
    [{ MILVUS_ADDRESS: '127.0.0.1:1', MILVUS_TOKEN: 'root:Milvus' }, 'MILVUS_TOKEN'],
    ...['local-dev-minio-secret', 'local-dev-milvus-minio', 'minioadmin'].map(
      (secret) =>
        [
          { S3_ENDPOINT: 'http://127.0.0.1:1', S3_ACCESS_KEY: 'voicehelper', S3_SECRET_KEY: secret },
          'S3_SECRET_KEY',
        ] as [Record<string, string>, string],
    ),
  ])('refuses a published or weak secret with exit 2, naming its variable (%j)', async (env, variable) => {
    const node = startNodeProcess(env);
    running.push(node);
    expect(await node.exited).toBe(2);
    expect(node.output()).toMatch(new RegExp(`^config error: ${variable}: .*(published default|too weak)`, 'm'));
  });

  it('starts a complete node on the embedded defaults, restarts on the same data, and drains on SIGTERM with exit 0', async () => {
    const dataDir = tempDir();
    for (let round = 0; round < 2; round++) {
      const port = await freePort();
      const node = startNodeProcess({
        PORT: String(port),
        DATA_DIR: dataDir,
        EMBEDDED_PG_PORT: String(await freePort()),
      });
      running.push(node);
      const ready = await waitForReady(`http://127.0.0.1:${port}`, node);
      const body = (await ready.json()) as { dependencies: Record<string, { status: string; mode: string }> };
      for (const dependency of Object.values(body.dependencies)) {
        expect(dependency).toMatchObject({ status: 'up', mode: 'embedded' });
      }
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      node.child.kill('SIGTERM');
      expect(await node.exited).toBe(0);
      expect(node.output()).toContain('"msg":"closed"');
    }
    expect(existsSync(path.join(dataDir, 'postgres', 'PG_VERSION'))).toBe(true);
  }, 120_000);

  it('runs the operators CLI against a running embedded node (its PostgreSQL, never a second one) and on its own when no node runs', async () => {
    const dataDir = tempDir();
    const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()) };
    const port = await freePort();
    const node = startNodeProcess({ ...env, PORT: String(port) });
    running.push(node);
    const url = `http://127.0.0.1:${port}`;
    await waitForReady(url, node);
    const pidFile = path.join(dataDir, 'postgres', 'postmaster.pid');
    const postmaster = readFileSync(pidFile, 'utf8').split('\n')[0];

    const created = await runCli(
      ['users', 'create', '--email', 'root@example.test', '--role', 'admin'],
      env,
      'the first admin\n',
    );
    expect(created).toMatchObject({ code: 0 });
    const login = await fetch(`${url}/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'root@example.test', password: 'the first admin' }),
    });
    expect(login.status).toBe(200);
    expect(((await login.json()) as { user: { roles: string[] } }).user.roles).toEqual(['admin', 'user']);
    expect(await runCli(['migrate', 'status'], env)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/\d+ applied, 0 pending/),
    });
    const backups = tempDir('vh-embedded-backups-');
    const backup = await runCli(['backup', 'create', '--to', backups, '--json'], env);
    expect(backup.code).toBe(0);
    const id = (JSON.parse(backup.stdout) as { id: string; sources: Record<string, string> }).id;
    expect(JSON.parse(backup.stdout).sources).toEqual({
      postgres: 'embedded',
      objects: 'fs',
      vector: 'embedded',
      graph: 'embedded',
      redis: 'memory',
    });
    expect(await runCli(['backup', 'verify', path.join(backups, id)], env)).toMatchObject({ code: 0 });
    // The node's PostgreSQL served every command and still runs.
    expect(readFileSync(pidFile, 'utf8').split('\n')[0]).toBe(postmaster);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
    // No node: the CLI starts the embedded PostgreSQL for the command and stops it after.
    const listed = await runCli(['users', 'list', '--json'], env);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout.trim())).toMatchObject({ email: 'root@example.test' });
    expect(existsSync(pidFile)).toBe(false);
  }, 120_000);

  it('compiles once when several builds of one checkout start together, and again when a source changes', async () => {
    // A copy of the checkout's sources (node_modules shared, read only) with no dist/ yet.
    const root = tempDir('vh-build-');
    for (const entry of [
      'src',
      'protocol',
      'bench',
      'chaos',
      'client/src',
      'web',
      'migrations',
      'scripts',
      'tsconfig.json',
      'package.json',
      'package-lock.json',
    ]) {
      await cp(path.join(packageRoot(), entry), path.join(root, entry), { recursive: true, preserveTimestamps: true });
    }
    await symlink(path.join(packageRoot(), 'node_modules'), path.join(root, 'node_modules'));
    const build = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn('bash', [path.join(root, 'scripts', 'build.sh')], {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.once('exit', (code) =>
          code === 0 ? resolve(output) : reject(new Error(`build failed (${code}):\n${output}`)),
        );
      });
    const outputs = await Promise.all([build(), build(), build()]);
    expect(outputs.filter((o) => o.includes('compiled into dist/'))).toHaveLength(1);
    expect(outputs.filter((o) => o.includes('up to date'))).toHaveLength(2);
    expect(existsSync(path.join(root, 'dist', 'src', 'main.js'))).toBe(true);
    expect(await build()).toContain('up to date');
    // A changed source compiles again.
    await appendFile(path.join(root, 'src', 'logger.ts'), '\n// changed\n');
    expect(await build()).toContain('compiled into dist/');
  }, 120_000);
});
