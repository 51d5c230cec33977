import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

const read = (file: string) => JSON.parse(readFileSync(path.join(packageRoot(), file), 'utf8'));

// One of each: no package the server names itself is installed at two majors (a dependency
// bringing an older one is pinned to ours with `overrides` in package.json).
describe('the dependency tree', () => {
  it('holds one major of each direct dependency', () => {
    const pkg = read('package.json') as Record<string, Record<string, string>>;
    const lock = read('package-lock.json') as { packages: Record<string, { version?: string }> };
    const direct = new Set(Object.keys({ ...pkg['dependencies'], ...pkg['devDependencies'] }));
    const majors = new Map<string, Set<string>>();
    for (const [where, { version }] of Object.entries(lock.packages)) {
      const name = where.split('node_modules/').at(-1) ?? '';
      if (where === '' || !direct.has(name) || version === undefined) continue;
      majors.set(name, (majors.get(name) ?? new Set()).add(version.split('.')[0] as string));
    }
    const twice = [...majors].filter(([, seen]) => seen.size > 1).map(([name, seen]) => `${name}@${[...seen]}`);
    expect(twice).toEqual([]);
  });
});
