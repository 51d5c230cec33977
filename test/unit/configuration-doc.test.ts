import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchema } from '../../src/config/schema.js';
import { renderConfigurationDoc, variableDocs } from '../../src/config/variable-docs.js';
import { packageRoot } from '../../src/util/package-root.js';

describe('docs/configuration.md', () => {
  it('documents every variable of the schema once, and nothing else', () => {
    const documented = variableDocs.flatMap((row) => row.names);
    expect([...documented].sort()).toEqual(Object.keys(envSchema).sort());
    expect(new Set(documented).size).toBe(documented.length);
  });

  it('is the committed rendering of the table (run npm run docs:config)', () => {
    expect(readFileSync(path.join(packageRoot(), 'docs', 'configuration.md'), 'utf8')).toBe(renderConfigurationDoc());
  });
});
