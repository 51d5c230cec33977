import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configurationRows, renderConfigurationDoc } from '../../src/config/configuration-doc.js';
import { composeOnlyVariables, renderEnvExample } from '../../src/config/env-example.js';
import { envSchema } from '../../src/config/schema.js';
import { packageRoot } from '../../src/util/package-root.js';

describe('docs/configuration.md', () => {
  it('documents every variable of the schema once, and nothing else', () => {
    const documented = configurationRows().flatMap((row) => row.names);
    expect([...documented].sort()).toEqual(Object.keys(envSchema).sort());
    expect(new Set(documented).size).toBe(documented.length);
  });

  it('shows each default as the schema gives it', () => {
    const rows = new Map(configurationRows().map((row) => [row.names[0], row]));
    expect(rows.get('PORT')?.shown).toBe('`3000`');
    expect(rows.get('RATE_LIMIT_LOGIN_ACCOUNT')?.shown).toBe('`20/15m`');
    expect(rows.get('READINESS_OPTIONAL')?.shown).toBe('`vector,graph`');
    expect(rows.get('DATABASE_URL')?.shown).toBe('embedded PostgreSQL');
  });

  it('is the committed rendering of the schema (run npm run docs:config)', () => {
    expect(readFileSync(path.join(packageRoot(), 'docs', 'configuration.md'), 'utf8')).toBe(renderConfigurationDoc());
  });
});

describe('.env.example', () => {
  it('is the committed rendering of the rows (run npm run docs:config)', () => {
    expect(readFileSync(path.join(packageRoot(), '.env.example'), 'utf8')).toBe(renderEnvExample());
  });

  it('lists a server variable from its own row, never again as a compose-only one', () => {
    expect(Object.keys(composeOnlyVariables).filter((name) => name in envSchema)).toEqual([]);
  });
});
