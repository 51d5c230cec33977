import { spawn } from 'node:child_process';
import path from 'node:path';
import { packageRoot } from '../../src/util/package-root.js';
import { childProcessEnv } from './env.js';

/** What one run of the CLI printed and how it ended. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the compiled `voicehelper` CLI (dist/, built by `npm test` before the suite) as its
 * own process with exactly these variables (plus those of childProcessEnv), feeding `stdin`.
 */
export function runCli(args: readonly string[], env: Record<string, string>, stdin = ''): Promise<CliRun> {
  const main = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], {
      env: { ...childProcessEnv(), ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
