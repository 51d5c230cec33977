import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { runCli } from '../helpers/cli.js';
import { openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually } from '../helpers/cluster.js';
import { childProcessEnv, clusterEnv, tempDir, uniqueName } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { type NodeProcess, startNodeProcess, waitForReady } from '../helpers/node-process.js';
import { freePort } from '../helpers/ports.js';

// A node started as `npm start` starts it (dist/, a process of its own) with the assistant
// on runs the real Python assistant (assistant/, on the SDK) as its child: it answers a
// user's session, is started again when it dies, and ends with its node. The Python is the
// test venv's (scripts/python.sh), named by VOICEHELPER_TEST_PYTHON.

/** Python's start, its key exchange and registration, and an answer, on a loaded machine. */
const ASSISTANT_MS = 90_000;

function testPython(): string {
  const python = process.env['VOICEHELPER_TEST_PYTHON'];
  if (python === undefined || python === '') {
    throw new Error(
      "VOICEHELPER_TEST_PYTHON is unset: it names the python of the test venv that has the SDK and the assistant (scripts/python.sh's use_python_venv; npm test sets it)",
    );
  }
  return python;
}

/** The pids of the assistants the node logged as started, in order. */
function startedPids(node: NodeProcess): number[] {
  return node
    .output()
    .split('\n')
    .filter((line) => line.includes('"msg":"assistant started"'))
    .map((line) => (JSON.parse(line) as { pid: number }).pid);
}

/** The pids of the node's child processes that run Python (from /proc). */
function pythonChildren(nodePid: number): number[] {
  const children = readFileSync(`/proc/${nodePid}/task/${nodePid}/children`, 'utf8').trim();
  return children === ''
    ? []
    : children
        .split(' ')
        .map(Number)
        .filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('voicehelper_assistant');
          } catch {
            return false;
          }
        });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Message {
  role: string;
  content: string;
  seq: number;
}

const running: NodeProcess[] = [];
const sockets: TestSocket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.close();
  for (const node of running.splice(0)) if (node.child.exitCode === null) node.child.kill('SIGKILL');
});

/** A node of its own on the real services, serving `agent` by default. */
async function startNode(agent: string, assistant: Record<string, string>) {
  const port = await freePort();
  const node = startNodeProcess({
    ...clusterEnv({ PORT: String(port), DEFAULT_AGENT: agent, AGENT_REDISPATCH_MS: '1000', LOG_LEVEL: 'info' }),
    ...assistant,
  });
  running.push(node);
  const url = `http://127.0.0.1:${port}`;
  await waitForReady(url, node);
  return { node, url };
}

/** A user signed up on the node, with a socket. */
async function signUp(url: string) {
  const email = `assistant-user-${randomUUID().slice(0, 8)}@example.test`;
  const registered = await call(url, 'POST', '/v1/auth/register', {
    body: { email, username: 'asker', password: 'a long password' },
  });
  expect(registered.status).toBe(201);
  const token = registered.body['accessToken'] as string;
  const socket = await openClient(url, { token });
  sockets.push(socket);
  return { token, socket };
}

async function agentState(url: string, token: string, sessionId: string) {
  const response = await call(url, 'GET', `/v1/sessions/${sessionId}`, { token });
  expect(response.status).toBe(200);
  return response.body['session']['agentStatus'] as { state: string; workerId?: string };
}

describe('the reference assistant a node runs', () => {
  it('answers a session a user creates, is started again when it dies, and stops with its node', async () => {
    const agent = uniqueName('assistant').toLowerCase();
    const { node, url } = await startNode(agent, { ASSISTANT: 'on', ASSISTANT_PYTHON: testPython() });
    await eventually(() => expect(startedPids(node)).toHaveLength(1), ASSISTANT_MS);
    const [first] = startedPids(node) as [number];
    expect(pythonChildren(node.child.pid as number)).toEqual([first]);

    // A session created over HTTP names the default agent and is given to the assistant.
    const user = await signUp(url);
    const created = await call(url, 'POST', '/v1/sessions', { token: user.token, body: { title: 'ask' } });
    expect(created.status).toBe(201);
    const sessionId = created.body['session']['id'] as string;
    expect(created.body['session']['agent']).toBe(agent);
    await eventually(
      async () => expect(await agentState(url, user.token, sessionId)).toMatchObject({ state: 'assigned' }),
      ASSISTANT_MS,
    );

    // A typed question gets an answer from the assistant.
    const joined = await request(user.socket, 'session:join', { sessionId });
    expect(joined).toMatchObject({ ok: true });
    const pushed = collect<{ message: Message }>(user.socket, 'message:new');
    const ask = async (content: string) => {
      const sent = await request<{ message: Message }>(user.socket, 'message:send', {
        sessionId,
        clientMsgId: randomUUID(),
        content,
      });
      if (!sent.ok) throw new Error(`message:send failed: ${JSON.stringify(sent.error)}`);
      return sent.data.message.seq;
    };
    const answered = (after: number) =>
      eventually(
        () =>
          expect(pushed.map((p) => p.message).filter((m) => m.seq > after && m.role === 'assistant')).not.toEqual([]),
        ASSISTANT_MS,
      );
    await answered(await ask('What is VoiceHelper?'));

    // Killed, it is started again, and the session is served again.
    const before = (await agentState(url, user.token, sessionId)).workerId;
    process.kill(first, 'SIGKILL');
    await eventually(() => expect(startedPids(node)).toHaveLength(2), ASSISTANT_MS);
    const second = startedPids(node)[1] as number;
    expect(second).not.toBe(first);
    expect(node.output()).toContain('"msg":"assistant exited; restarting it"');
    await eventually(async () => {
      const status = await agentState(url, user.token, sessionId);
      expect(status.state).toBe('assigned');
      expect(status.workerId).not.toBe(before);
    }, ASSISTANT_MS);
    await answered(await ask('And what can you do?'));
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^voicehelper_assistant_starts_total(\{[^}]*\})? 2$/m);
    expect(metrics).toMatch(/^voicehelper_assistant_up(\{[^}]*\})? 1$/m);

    // SIGTERM: the node stops its assistant before it closes, and exits cleanly.
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
    expect(alive(second)).toBe(false);
    expect(node.output()).toContain('"msg":"assistant stopped"');
    expect(node.output().indexOf('"msg":"assistant stopped"')).toBeLessThan(node.output().indexOf('"msg":"closed"'));
  }, 300_000);

  it('does not outlive a node killed with SIGKILL', async () => {
    const agent = uniqueName('assistant').toLowerCase();
    const { node } = await startNode(agent, { ASSISTANT: 'on', ASSISTANT_PYTHON: testPython() });
    await eventually(() => expect(startedPids(node)).toHaveLength(1), ASSISTANT_MS);
    const [pid] = startedPids(node) as [number];
    expect(alive(pid)).toBe(true);
    node.child.kill('SIGKILL');
    await node.exited;
    // Its stdin, a pipe from the node, ends with the node: it exits.
    await eventually(() => expect(alive(pid)).toBe(false), 30_000);
  }, 120_000);

  it('runs on the embedded default with nothing but its Python set; each start revokes the keys made before', async () => {
    const env = { DATA_DIR: tempDir(), EMBEDDED_PG_PORT: String(await freePort()), ASSISTANT_PYTHON: testPython() };
    const liveKeys = async () => {
      const listed = await runCli(['keys', 'list', '--user', 'assistant@voicehelper.invalid', '--json'], env);
      expect(listed, listed.stderr).toMatchObject({ code: 0 });
      return listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { id: string; revokedAt: string | null })
        .filter((key) => key.revokedAt === null)
        .map((key) => key.id);
    };
    const keys: string[][] = [];
    for (let round = 0; round < 2; round++) {
      const port = await freePort();
      const node = startNodeProcess({ ...env, PORT: String(port), AGENT_REDISPATCH_MS: '1000' });
      running.push(node);
      const url = `http://127.0.0.1:${port}`;
      await waitForReady(url, node);
      await eventually(() => expect(startedPids(node)).toHaveLength(1), ASSISTANT_MS);
      // Sessions get the agent `assistant` by default, and the assistant has them.
      const user = await signUp(url);
      const created = await call(url, 'POST', '/v1/sessions', { token: user.token, body: { title: 'ask' } });
      expect(created.body['session']['agent']).toBe('assistant');
      await eventually(
        async () =>
          expect(await agentState(url, user.token, created.body['session']['id'] as string)).toMatchObject({
            state: 'assigned',
          }),
        ASSISTANT_MS,
      );
      if (round === 0) {
        // Killed with SIGKILL: the key its assistant holds stays live until the next start.
        node.child.kill('SIGKILL');
        await node.exited;
      } else {
        // Stopped: it revokes its assistant's key.
        node.child.kill('SIGTERM');
        expect(await node.exited).toBe(0);
      }
      keys.push(await liveKeys());
    }
    // The second start revoked the key of the first, and its own when it stopped.
    expect(keys[0]).toHaveLength(1);
    expect(keys[1]).toEqual([]);
  }, 300_000);

  it('npm start whose assistant cannot be installed warns and starts the node without it', async () => {
    const port = await freePort();
    // scripts/start.sh as `npm start` runs it, with a fresh cache and a package index that refuses.
    const child = spawn('bash', ['scripts/start.sh'], {
      cwd: packageRoot(),
      env: {
        ...childProcessEnv(),
        DATA_DIR: tempDir(),
        PORT: String(port),
        EMBEDDED_PG_PORT: String(await freePort()),
        VOICEHELPER_CACHE: tempDir('vh-assistant-cache-'),
        PIP_INDEX_URL: `http://127.0.0.1:${await freePort()}/simple`,
        PIP_NO_CACHE_DIR: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const node: NodeProcess = {
      child,
      output: () => output,
      exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
    };
    running.push(node);
    await waitForReady(`http://127.0.0.1:${port}`, node, 180);
    expect(output).toContain('[assistant] could not make its venv');
    expect(output.match(/\[start\] warning: the reference assistant is not available/g)).toHaveLength(1);
    expect(startedPids(node)).toEqual([]);
    // Told it is off, the node says nothing more of it.
    expect(output).not.toContain('"component":"assistant"');
    expect(output).not.toContain('ASSISTANT_PYTHON is unset');
    child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
  }, 240_000);

  it('starts none with ASSISTANT=off: the session waits for a worker', async () => {
    const agent = uniqueName('assistant').toLowerCase();
    const { node, url } = await startNode(agent, { ASSISTANT: 'off', ASSISTANT_PYTHON: testPython() });
    const user = await signUp(url);
    const created = await call(url, 'POST', '/v1/sessions', { token: user.token, body: { title: 'ask' } });
    expect(created.status).toBe(201);
    expect(created.body['session']).toMatchObject({ agent, agentStatus: { state: 'waiting' } });
    expect(pythonChildren(node.child.pid as number)).toEqual([]);
    expect(startedPids(node)).toEqual([]);
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
    expect(node.output()).not.toContain('"component":"assistant"');
  }, 120_000);
});
