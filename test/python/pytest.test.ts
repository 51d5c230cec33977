import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';
import { run } from '../helpers/k8s-tools.js';

// The Python side (the worker SDK, then the reference assistant) with pytest, inside the
// suite's run so that it shares the two workers with the other files instead of running
// after them: each project's tests start two real nodes of dist/ on the suite's services.
// The python is the pinned venv's (scripts/python.sh), named by VOICEHELPER_TEST_PYTHON.
describe('the Python worker SDK and the reference assistant (pytest)', () => {
  for (const project of ['sdk/python', 'assistant']) {
    it(`${project}: every pytest test passes`, { timeout: 600_000 }, async () => {
      const python = process.env['VOICEHELPER_TEST_PYTHON'];
      expect(python, 'VOICEHELPER_TEST_PYTHON (npm test sets it)').toBeTruthy();
      const result = await run(python as string, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], undefined, {
        cwd: path.join(packageRoot(), project),
        env: process.env,
      });
      // pytest's own report (its last lines name what passed or failed and why).
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
      process.stdout.write(`[pytest ${project}] ${result.stdout.trim().split('\n').at(-1) ?? ''}\n`);
    });
  }
});
