import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { TestCluster } from '../helpers/cluster.js';

// The client SDK as its users get it: `npm pack` of client/ (its prepack script compiles it),
// installed from the tarball into an empty project, then used from there by plain Node and
// by TypeScript, against a real node. Nothing of this repository is on their paths.

const execFileAsync = promisify(execFile);
const CLIENT = path.join(packageRoot(), 'client');
const TSC = path.join(packageRoot(), 'node_modules', 'typescript', 'bin', 'tsc');

// npm and node of the Node.js running the tests, without the npm_* settings of an
// `npm test` around them (the prefix, the package being tested): the project is another one.
const childEnv: NodeJS.ProcessEnv = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_'))),
  PATH: `${path.dirname(process.execPath)}${path.delimiter}${process.env['PATH'] ?? ''}`,
};

async function run(
  file: string,
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  try {
    return await execFileAsync(file, args, { cwd, env: { ...childEnv, ...env }, encoding: 'utf8', timeout: 60_000 });
  } catch (error) {
    const failed = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${path.basename(file)} ${args.join(' ')} failed: ${failed.message}\n${failed.stdout ?? ''}`, {
      cause: error,
    });
  }
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

describe('client SDK package (npm pack, installed into an empty project)', () => {
  let cluster: TestCluster;
  let dir: string;
  let packed: PackResult;

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
    dir = await mkdtemp(path.join(tmpdir(), 'vh-client-package-'));
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], CLIENT);
    packed = (JSON.parse(stdout) as PackResult[])[0] as PackResult;

    // An app of its own that uses zod as the client's types do (its peer dependency), at the
    // version this repository is tested with; socket.io-client and the rest come from the
    // npm cache when they are there.
    const root = JSON.parse(await readFile(path.join(packageRoot(), 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    await writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: { zod: root.dependencies['zod'] } }),
    );
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', path.join(dir, packed.filename)],
      dir,
    );
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('holds the compiled JavaScript and its declarations, no sources, maps or tests', () => {
    const files = packed.files.map((file) => file.path).sort();
    expect(files).toContain('package.json');
    expect(files).toContain('dist/client/src/index.js');
    expect(files).toContain('dist/client/src/index.d.ts');
    // The declarations import the protocol's types, which ship with them.
    expect(files).toContain('dist/protocol/models.d.ts');
    // Its terms come with it (npm packs LICENSE whatever `files` says).
    expect(files).toContain('LICENSE');
    const unexpected = files.filter((file) => !/^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts))$/.test(file));
    expect(unexpected).toEqual([]);
    // The protocol's runtime (zod schemas) is not part of the client: only its declarations ship.
    expect(files.filter((file) => file.startsWith('dist/protocol/') && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('is imported by an ES module of the project, connects to a node, and sends a message that is acked', async () => {
    await writeFile(
      path.join(dir, 'send.mjs'),
      `import { VoiceHelperClient } from '@voicehelper/client';
const client = new VoiceHelperClient({ url: process.env.VH_URL, token: () => process.env.VH_TOKEN });
await client.connect();
const { session } = await client.request('session:create', { title: 'from the tarball' });
const ack = await client.send(session.id, 'hello from the package');
console.log(JSON.stringify({ resolved: import.meta.resolve('@voicehelper/client'), node: client.nodeId, sessionId: session.id, seq: ack.seq, content: ack.content }));
client.close();
`,
    );
    const user = await cluster.user();
    const { stdout } = await run(process.execPath, ['send.mjs'], dir, {
      VH_URL: cluster.urls[0] as string,
      VH_TOKEN: user.token,
    });
    const printed = JSON.parse(stdout) as {
      resolved: string;
      node: string;
      sessionId: string;
      seq: number;
      content: string;
    };
    expect(printed.resolved).toBe(
      pathToFileURL(path.join(dir, 'node_modules/@voicehelper/client/dist/client/src/index.js')).href,
    );
    expect(printed.node).toBe(cluster.nodes[0]?.config.nodeId);
    expect(printed).toMatchObject({ seq: 1, content: 'hello from the package' });
    const stored = await cluster
      .sql()
      .query<{ content: string }>('select content from messages where session_id = $1', [printed.sessionId]);
    expect(stored.rows).toEqual([{ content: 'hello from the package' }]);
  });

  it('bundles for browsers from the project, on the browser builds of its dependencies', async () => {
    await writeFile(
      path.join(dir, 'browser.js'),
      `import { VoiceHelperClient } from '@voicehelper/client';
export const open = (url, token) => new VoiceHelperClient({ url, token: () => token });
`,
    );
    const bundled = await build({
      absWorkingDir: dir,
      entryPoints: ['browser.js'],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(bundled.metafile.inputs);
    expect(inputs).toContain('node_modules/@voicehelper/client/dist/client/src/index.js');
    expect(inputs).toContain('node_modules/engine.io-client/build/esm/transports/websocket.js');
    // Nothing that only Node has: the ws package, the XMLHttpRequest polyfill, .node.js builds.
    expect(inputs.filter((input) => /\/(ws|xmlhttprequest-ssl)\/|\.node\.js$/.test(input))).toEqual([]);
  });

  it('resolves for require() and for TypeScript as its exports map says, and hides its internals', async () => {
    await writeFile(
      path.join(dir, 'require.cjs'),
      `const client = require('@voicehelper/client');
let internal = 'resolved';
try { require.resolve('@voicehelper/client/dist/client/src/support.js'); } catch (error) { internal = error.code; }
console.log(JSON.stringify({ resolved: require.resolve('@voicehelper/client'), client: typeof client.VoiceHelperClient, internal }));
`,
    );
    const { stdout } = await run(process.execPath, ['require.cjs'], dir);
    expect(JSON.parse(stdout)).toEqual({
      resolved: path.join(dir, 'node_modules/@voicehelper/client/dist/client/src/index.js'),
      client: 'function',
      internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
    });

    // An ES module and a CommonJS file of the project, checked with the declarations and
    // zod's (skipLibCheck off): each @ts-expect-error fails the check if the types it expects
    // to be refused were missing (any) or the internal path were reachable.
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          types: [],
          strict: true,
          noEmit: true,
          skipLibCheck: false,
        },
        files: ['app.ts', 'worker.cts'],
      }),
    );
    await writeFile(
      path.join(dir, 'app.ts'),
      `import { type Message, VoiceHelperClient, VoiceHelperError } from '@voicehelper/client';
// @ts-expect-error: not exported
import { sleep } from '@voicehelper/client/dist/client/src/support.js';
const client = new VoiceHelperClient({ url: 'http://127.0.0.1:1', token: () => 'token' });
export const sent: Promise<Message> = client.send('session', 'hello');
export const seq: number = ({} as Message).seq;
// @ts-expect-error: a message's seq is a number
export const wrong: string = ({} as Message).seq;
export const failed = (error: unknown): string | undefined => (error instanceof VoiceHelperError ? error.code : undefined);
export { sleep };
`,
    );
    await writeFile(
      path.join(dir, 'worker.cts'),
      `import client = require('@voicehelper/client');
export const made: client.VoiceHelperClient = new client.VoiceHelperClient({ url: 'http://127.0.0.1:1', token: () => 'token' });
// @ts-expect-error: no such option
export const refused = new client.VoiceHelperClient({ url: 'http://127.0.0.1:1', token: () => 'token', nope: 1 });
`,
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.json'], dir);
  });
});
