import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/util/package-root.js';

const root = packageRoot();

/** The `name==version` pins of a requirements file, by normalised name (PEP 503). */
function pins(file: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of readFileSync(path.join(root, file), 'utf8').split('\n')) {
    const match = /^([A-Za-z0-9._-]+)==(\S+)$/.exec(line.trim());
    if (match !== null) found.set((match[1] as string).toLowerCase().replace(/[-_.]+/g, '-'), match[2] as string);
  }
  return found;
}

// The runtime venv of the assistant (scripts/assistant.sh, assistant/Dockerfile) runs on the
// versions the SDK's tests run on: one set of pins, never two that drift apart.
describe("the assistant's runtime pins", () => {
  const runtime = pins('assistant/requirements-runtime.txt');

  it('are every pin exact, and at the versions of the SDK tests for what both pin', () => {
    const text = readFileSync(path.join(root, 'assistant/requirements-runtime.txt'), 'utf8');
    for (const line of text.split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      expect(line).toMatch(/^([A-Za-z0-9._-]+==\S+|-r requirements\.txt)$/);
    }
    const dev = pins('sdk/python/requirements-dev.txt');
    for (const [name, version] of runtime)
      if (dev.has(name)) expect(`${name}==${version}`).toBe(`${name}==${dev.get(name)}`);
  });

  it("hold the SDK's runtime dependencies and the assistant's own pins", () => {
    const pyproject = readFileSync(path.join(root, 'sdk/python/pyproject.toml'), 'utf8');
    const block = /^dependencies = \[([^\]]*)\]/m.exec(pyproject)?.[1] ?? '';
    const needed = [...block.matchAll(/"([A-Za-z0-9._-]+)/g)].map((m) => (m[1] as string).toLowerCase());
    expect(needed).toEqual(expect.arrayContaining(['python-socketio', 'aiohttp', 'pydantic']));
    for (const name of needed) expect(runtime.has(name), name).toBe(true);
    // The assistant's pins come in whole through `-r requirements.txt`; none is contradicted here.
    for (const [name, version] of pins('assistant/requirements.txt')) {
      if (runtime.has(name)) expect(runtime.get(name), name).toBe(version);
    }
  });
});
