import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

const root = packageRoot();
const biome = path.join(root, 'node_modules', '.bin', 'biome');

/** Lints files written into the tree for the occasion (removed afterwards) with the project's biome.json. */
function lint(files: Record<string, string>): { code: number | null; output: string } {
  const written = Object.entries(files).map(([file, text]) => {
    const full = path.join(root, file);
    writeFileSync(full, text);
    return full;
  });
  try {
    const run = spawnSync(biome, ['lint', '--max-diagnostics=50', ...Object.keys(files)], {
      cwd: root,
      encoding: 'utf8',
    });
    return { code: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    for (const full of written) rmSync(full, { force: true });
  }
}

// The layers of docs/architecture.md#layers, as `npm run lint` (and `npm test`) enforce them.
describe('the layer rules', () => {
  const probe = () => `probe_${randomUUID().slice(0, 8)}`;

  it('pass the tree as it is', () => {
    const run = spawnSync(biome, ['lint', '.'], { cwd: root, encoding: 'utf8' });
    expect(`${run.stdout}${run.stderr}`).not.toMatch(/noRestrictedImports|noImportCycles/);
  });

  it.each([
    ['src/stores', '../services/conversation.js', /stores never import/],
    ['src/services', '../realtime/rooms.js', /services never import/],
    ['src/realtime', '../compose/services.js', /never import the composition root/],
    ['src/util', '../stores/names.js', /base layer/],
    ['protocol', '../src/errors/app-error.js', /import nothing of the server/],
  ])('refuse an import from %s of %s', (folder, target, message) => {
    const file = `${folder}/${probe()}.ts`;
    const run = lint({ [file]: `import * as up from '${target}';\nexport const probe = up;\n` });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/noRestrictedImports/);
    expect(run.output).toMatch(message);
  });

  it('refuse an import cycle', () => {
    const [a, b] = [probe(), probe()];
    const run = lint({
      [`src/util/${a}.ts`]: `import { b } from './${b}.js';\nexport const a = () => b;\n`,
      [`src/util/${b}.ts`]: `import { a } from './${a}.js';\nexport const b = () => a;\n`,
    });
    expect(run.code).not.toBe(0);
    expect(run.output).toMatch(/noImportCycles/);
  });
});
