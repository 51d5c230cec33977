import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

const root = packageRoot();
/** The folders whose files the documentation names. */
const TOP = [
  'src',
  'test',
  'protocol',
  'client',
  'web',
  'migrations',
  'scripts',
  'bench',
  'chaos',
  'load-tests',
  'deploy',
  'docs',
  'sdk',
  'assistant',
];

function documents(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => path.join('docs', name));
  return ['README.md', ...docs, 'load-tests/README.md'].filter((file) => existsSync(path.join(root, file)));
}

/** A path written as code, `src/x.ts`; not a pattern with placeholders (`NNNN`, `<name>`, `*`). */
function namedPaths(text: string): string[] {
  const found = [...text.matchAll(/`([A-Za-z0-9_./-]+)`/g)].map((m) => m[1] as string);
  return found.filter(
    (p) => TOP.some((top) => p.startsWith(`${top}/`)) && !/NNNN|<|\*|\{/.test(p) && !p.includes('..'),
  );
}

/** Relative links, `[text](architecture.md#security)`, without their anchors. */
function relativeLinks(text: string): string[] {
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => (m[1] as string).split('#')[0] as string)
    .filter((target) => target !== '' && !/^[a-z]+:/.test(target));
}

describe('the documentation', () => {
  it('names only files and folders that exist', () => {
    const missing: string[] = [];
    for (const file of documents()) {
      const text = readFileSync(path.join(root, file), 'utf8');
      for (const named of namedPaths(text)) if (!existsSync(path.join(root, named))) missing.push(`${file}: ${named}`);
      for (const link of relativeLinks(text))
        if (!existsSync(path.resolve(root, path.dirname(file), link))) missing.push(`${file}: (${link})`);
    }
    expect(missing).toEqual([]);
  });

  it("draws the README's deployment diagram as docs/architecture.md does", () => {
    const diagram = (file: string) =>
      /```\n( +clients \(phones[\s\S]*?)```/.exec(readFileSync(path.join(root, file), 'utf8'))?.[1];
    expect(diagram('README.md')).toBeDefined();
    expect(diagram('README.md')).toBe(diagram('docs/architecture.md'));
  });
});
