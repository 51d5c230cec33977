import { type ComposeEntry, envSchema, variableRows } from './schema.js';

/**
 * The secrets docker-compose.yml requires that are no server variable: the stores' and
 * Grafana's own passwords, which compose hands to a service (and into the nodes' store URLs,
 * as `DATABASE_URL` holds `POSTGRES_PASSWORD`). A server variable compose takes from `.env`
 * is marked on its own row (`compose`) in src/config/schema.ts.
 */
export const composeOnlyVariables: Readonly<Record<string, ComposeEntry>> = {
  POSTGRES_PASSWORD: { says: "PostgreSQL's voicehelper user.", value: 'password' },
  REDIS_PASSWORD: { says: 'Redis (requirepass).', value: 'password' },
  S3_ROOT_USER: {
    says: "The server's S3 (the Versity gateway: files, voice audio, backups): its root account is the nodes' S3 key.",
    value: 'name',
  },
  S3_ROOT_PASSWORD: { value: 'password', with: 'S3_ROOT_USER' },
  MILVUS_S3_USER: { says: "Milvus's own S3 (segments and indexes; the Versity gateway too).", value: 'name' },
  MILVUS_S3_PASSWORD: { value: 'password', with: 'MILVUS_S3_USER' },
  GRAFANA_PASSWORD: { says: "Grafana's admin user (http://localhost:3001).", value: 'password' },
  ASSISTANT_API_KEY: {
    says: "the reference assistant's API key, made once with the CLI after the stores are up (docs/assistant.md); the assistant service (profile `assistant`) needs it, the rest of the stack does not.",
    value: { example: 'vhk_<id>.<secret>' },
  },
};

const MAKE = {
  key: 'openssl rand -base64 48',
  password: 'openssl rand -hex 32',
  name: 'A name of your choice (3 or more characters)',
} as const;

/** Comment lines of at most 92 characters. */
function comment(text: string): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(' ')) {
    if (line.length + 1 + word.length > 92 && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line = `${line} ${word}`;
  }
  return [...lines, line];
}

interface Block {
  names: string[];
  says: string;
  entry: ComposeEntry;
  makes: string[];
}

/** `.env.example`: every variable compose takes from `.env`, with what it is for and what makes its value. */
export function renderEnvExample(): string {
  const entries: [string, ComposeEntry][] = [
    ...Object.entries(envSchema).flatMap(([name, schema]): [string, ComposeEntry][] => {
      const compose = variableRows.get(schema)?.compose;
      return compose === undefined ? [] : [[name, compose]];
    }),
    ...Object.entries(composeOnlyVariables),
  ];
  const blocks = new Map<string, Block>();
  for (const [name, entry] of entries) {
    const make = typeof entry.value === 'string' ? MAKE[entry.value] : undefined;
    const block = entry.with === undefined ? undefined : blocks.get(entry.with);
    if (entry.with !== undefined && block === undefined)
      throw new Error(`${name} is listed with ${entry.with}, which comes later or not at all`);
    if (block !== undefined) {
      block.names.push(name);
      if (make !== undefined && !block.makes.includes(make)) block.makes.push(make);
      continue;
    }
    if (entry.says === undefined) throw new Error(`${name} says nothing in .env.example`);
    blocks.set(name, { names: [name], says: entry.says, entry, makes: make === undefined ? [] : [make] });
  }
  const required = [...blocks.values()].filter(({ entry }) => typeof entry.value === 'string');
  const optional = [...blocks.values()].filter(({ entry }) => typeof entry.value !== 'string');
  return [
    '# Generated from src/config/schema.ts and src/config/env-example.ts by `npm run docs:config`.',
    '#',
    '# Secrets of the docker-compose.yml stack. Copy this file to .env (compose reads it from the',
    '# project directory), then fill in every value: compose refuses to start while one is empty,',
    '# and the nodes refuse published defaults and weak keys. Make each value on its own and keep',
    '# .env out of version control.',
    '#',
    '# Passwords that go into connection URLs must be URL-safe; hex is:',
    `#   ${MAKE.password}`,
    '# Keys the server signs or checks with:',
    `#   ${MAKE.key}`,
    ...required.flatMap(({ names, says, makes }) => [
      '',
      ...comment(says),
      `# ${makes.join(', and ')}`,
      ...names.map((name) => `${name}=`),
    ]),
    ...optional.flatMap(({ names, says, entry }) => [
      '',
      ...comment(`Optional: ${says}`),
      ...names.map((name) => (typeof entry.value === 'string' ? `# ${name}=` : `# ${name}=${entry.value.example}`)),
    ]),
    '',
  ].join('\n');
}
