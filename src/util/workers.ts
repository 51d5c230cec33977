import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from './package-root.js';

/**
 * The compiled file of a worker thread next to the module at `moduleUrl`. Under the
 * TypeScript test runner (which runs sources, not dist) it is the one `npm test` built
 * under dist/.
 */
export function compiledWorker(moduleUrl: string, file: string): string {
  const here = path.dirname(fileURLToPath(moduleUrl));
  if (!fileURLToPath(moduleUrl).endsWith('.ts')) return path.join(here, file);
  const root = packageRoot();
  return path.join(root, 'dist', path.relative(root, here), file);
}
