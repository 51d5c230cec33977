import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

/** The tools scripts/k8s-tools.sh builds, by the variable that names each. */
export type K8sTool = 'HELM_BIN' | 'KUBECONFORM_BIN' | 'PROMTOOL_BIN' | 'KUBE_SCHEMAS_DIR';

/**
 * The path of a tool built by scripts/k8s-tools.sh, failing loudly (never skipping) when the
 * suite was started without it: `npm test` sources the script first.
 */
export function k8sTool(name: K8sTool): string {
  const value = process.env[name];
  if (value === undefined || value === '' || !existsSync(value)) {
    throw new Error(
      `${name} is ${value === undefined || value === '' ? 'not set' : `${value}, which does not exist`}: ` +
        'run `source scripts/k8s-tools.sh && ensure_k8s_tools` first (npm test does)',
    );
  }
  return value;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const execFileAsync = promisify(execFile);

/** Runs a command to its end and returns its exit code and output, whatever the code. */
export async function run(
  file: string,
  args: readonly string[],
  input?: string,
  where: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  const child = execFileAsync(file, args, { maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', ...where });
  if (input !== undefined) child.child.stdin?.end(input);
  try {
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
