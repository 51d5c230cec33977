import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { childProcessEnv } from './env.js';

/** A node started from dist/ as its own process. */
export interface NodeProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output: () => string;
  exited: Promise<number | null>;
}

const MAIN = path.join(packageRoot(), 'dist', 'src', 'main.js');

/**
 * Starts the compiled server exactly as `npm start` does (dist/, which `npm test` builds),
 * with exactly these variables (plus those of childProcessEnv, and LOG_LEVEL info unless given).
 */
export function startNodeProcess(env: Record<string, string>): NodeProcess {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: build first (npm test does)`);
  const child = spawn(process.execPath, [MAIN], {
    env: { ...childProcessEnv(), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves with the first 200 of `GET /readyz`; throws with the node's output if it exits or takes too long. */
export async function waitForReady(url: string, node: NodeProcess, seconds = 60): Promise<Response> {
  for (let i = 0; i < seconds * 10; i++) {
    if (node.child.exitCode !== null) throw new Error(`the node exited early:\n${node.output()}`);
    try {
      const response = await fetch(`${url}/readyz`);
      if (response.status === 200) return response;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the node did not become ready:\n${node.output()}`);
}
