import type { z } from 'zod';
import { envSchema, type VariableRow, variableRows } from './schema.js';

/** A documentation row: one variable, or several documented together. */
interface Row {
  names: string[];
  shown: string;
  meaning: string;
}

/** A rate rule's window as its variable spells it: `10s`, `60s`, `15m`, `1h`. */
function windowText(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}

/** The default a schema gives an unset variable, as the documentation shows it (`none` for no default). */
export function defaultText(schema: z.ZodType): string {
  const parsed = schema.safeParse(undefined);
  const value: unknown = parsed.success ? parsed.data : undefined;
  if (value === undefined || (Array.isArray(value) && value.length === 0)) return 'none';
  if (Array.isArray(value)) return `\`${value.join(',')}\``;
  if (typeof value === 'object' && value !== null && 'limit' in value && 'windowMs' in value)
    return `\`${String(value.limit)}/${windowText(Number(value.windowMs))}\``;
  return `\`${String(value)}\``;
}

/** The rows of docs/configuration.md, in the schema's order; a variable documented `with` another joins its row. */
export function configurationRows(): Row[] {
  const rows = new Map<string, Row>();
  const docOf = (name: string): VariableRow => {
    const doc = variableRows.get(envSchema[name as keyof typeof envSchema]);
    if (doc === undefined) throw new Error(`${name} has no documentation in src/config/schema.ts`);
    return doc;
  };
  for (const [name, schema] of Object.entries(envSchema)) {
    const doc = docOf(name);
    const shown = doc.shown ?? defaultText(schema);
    if (doc.with !== undefined) {
      const row = rows.get(doc.with);
      if (row === undefined) throw new Error(`${name} is documented with ${doc.with}, which comes later or not at all`);
      row.names.push(name);
      // A row whose first variable says what unset means keeps that; otherwise each default is listed.
      if (docOf(doc.with).unset === undefined && !row.shown.split(', ').every((each) => each === shown))
        row.shown = `${row.shown}, ${shown}`;
      continue;
    }
    if (doc.meaning === undefined) throw new Error(`${name} has no meaning in src/config/schema.ts`);
    rows.set(name, { names: [name], shown: doc.unset ?? shown, meaning: doc.meaning });
  }
  return [...rows.values()];
}

/** docs/configuration.md: every variable of the schema with its default and meaning. */
export function renderConfigurationDoc(): string {
  const rows = configurationRows();
  return [
    '# Configuration',
    '',
    '<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit. -->',
    '',
    'Everything is read once from the environment, validated (zod, `src/config/schema.ts`),',
    'frozen, and passed down. A bad value stops the node at start with one line per bad',
    'variable, naming it (secret values are never echoed), and exit code 2. With nothing set, a',
    'node runs on embedded stores; each store variable that is set switches that store to the',
    'real service, and nodes sharing one `REDIS_URL` (or `REDIS_CLUSTER_NODES`) and',
    '`DATABASE_URL` form one cluster ([scale-out](scale-out.md), [capacity](capacity.md)).',
    '',
    'Each variable is written once, as one row of `src/config/schema.ts`: its schema with its',
    "default, where its value lands in the node's `Config` (`at`, checked by the compiler; the",
    'stores, chosen by a mode, are built in `src/config/sections.ts`) and its line below. This',
    'page and `.env.example` are rendered from the rows.',
    '',
    'A secret that anyone can look up stops the node the same way: a fallback this',
    "project's deployment files once shipped, a vendor's default (`minioadmin`, Neo4j's",
    "`neo4j`, Milvus's `root:Milvus`) or a placeholder (`changeme`, `your_redis_password`), as",
    '`JWT_SECRET`, `METRICS_TOKEN`, `S3_SECRET_KEY`, `NEO4J_PASSWORD`, `MILVUS_TOKEN` or the',
    'password of a store URL (list: `src/config/secrets.ts`); so does a weak `JWT_SECRET` or',
    '`METRICS_TOKEN` (fewer than 10 different characters, or under about 100 bits by',
    'character frequency).',
    '',
    '| variable | default | meaning |',
    '|---|---|---|',
    ...rows.map(
      ({ names, shown, meaning }) => `| ${names.map((name) => `\`${name}\``).join(', ')} | ${shown} | ${meaning} |`,
    ),
    '',
  ].join('\n');
}
