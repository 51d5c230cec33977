import type { Config } from './config.js';
import {
  type EnvSchema,
  envSchema,
  type ParsedEnv,
  type PlacedPath,
  SECRET_VARIABLES,
  variableRows,
} from './schema.js';
import { secretProblems } from './secrets.js';
import { buildSections, type Placed } from './sections.js';

/** Thrown by `loadConfig` with one line per bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describe(name: string, raw: string | undefined): string {
  if (raw === undefined) return 'not set';
  if (SECRET_VARIABLES.has(name)) return 'value hidden';
  return `got ${JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}...` : raw)}`;
}

/** Each variable parsed by its own schema, defaults filled; one line per bad one, all at once. */
export function parseEnv(env: NodeJS.ProcessEnv): ParsedEnv {
  const problems: string[] = [];
  const parsed: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(envSchema)) {
    const raw = env[name];
    const result = schema.safeParse(raw);
    if (result.success) {
      parsed[name] = result.data;
    } else {
      const message = result.error.issues[0]?.message ?? 'invalid value';
      problems.push(`${name}: ${message} (${describe(name, raw)})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed as ParsedEnv;
}

/** Where each variable that a row places lands, in the schema's order. */
export const placements: readonly { name: keyof EnvSchema; at: PlacedPath }[] = Object.entries(envSchema).flatMap(
  ([name, schema]) => {
    const at = variableRows.get(schema)?.at;
    // `variable` type-checked the path against Config and the variable's value.
    return at === undefined ? [] : [{ name: name as keyof EnvSchema, at: at as PlacedPath }];
  },
);

/**
 * The rules between variables, in one place: one line each, in the order an operator
 * fixes them (published or weak secrets first).
 */
function crossVariableProblems(e: ParsedEnv): string[] {
  // A published or weak secret stops the node as any bad value does.
  const problems: string[] = secretProblems(e);
  const redisUrl = e.REDIS_URL ?? e.REDIS_CLUSTER_NODES?.[0];
  if (e.JWT_SECRET === undefined && (e.DATABASE_URL !== undefined || redisUrl !== undefined)) {
    problems.push(
      'JWT_SECRET: required when DATABASE_URL, REDIS_URL or REDIS_CLUSTER_NODES is set, so that every node of a cluster signs with the same key (not set)',
    );
  }
  if (e.REDIS_URL !== undefined && e.REDIS_CLUSTER_NODES !== undefined) {
    problems.push('REDIS_CLUSTER_NODES: set it or REDIS_URL, not both (one Redis, or a Redis Cluster)');
  }
  if (e.LOCK_REDIS_URLS !== undefined && redisUrl === undefined) {
    problems.push(
      'REDIS_URL: required with LOCK_REDIS_URLS (fencing counters and everything else stay on it) (not set)',
    );
  }
  if (e.BACKUP_SCHEDULE !== undefined && e.BACKUP_TARGET === undefined) {
    problems.push('BACKUP_TARGET: required with BACKUP_SCHEDULE, where scheduled backups go (not set)');
  }
  if (e.ASSISTANT === 'on' && e.ASSISTANT_PYTHON === undefined) {
    problems.push(
      "ASSISTANT_PYTHON: required with ASSISTANT=on, the Python of the assistant's venv (npm start makes it and sets this) (not set)",
    );
  }
  if (e.S3_ENDPOINT !== undefined) {
    if (e.S3_ACCESS_KEY === undefined) problems.push('S3_ACCESS_KEY: required with S3_ENDPOINT (not set)');
    if (e.S3_SECRET_KEY === undefined) problems.push('S3_SECRET_KEY: required with S3_ENDPOINT (not set)');
  }
  return problems;
}

/**
 * Parses and validates the environment once, fills defaults and returns a frozen Config:
 * each variable's value lands where its row says (`at`), and the sections build the rest.
 * Nothing else in the server reads `process.env`.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const e = parseEnv(env);
  const problems = crossVariableProblems(e);
  if (problems.length > 0) throw new ConfigError(problems);
  const placed = placedValues(e);
  return deepFreeze(assemble({ ...placed, ...buildSections(e, placed) }));
}

/** Each placed variable's value by the path its row gives. */
export function placedValues(e: ParsedEnv): Placed {
  // Every placed path once, each from its own variable (test/unit/config-rows.test.ts).
  return Object.fromEntries(placements.map(({ name, at }) => [at, e[name]])) as unknown as Placed;
}

/**
 * The nested Config from values by dotted path. The compiler checked that the paths are
 * Config's and cover it (`Placed` and `Sections`); the configuration tests check the rest.
 */
function assemble(byPath: Record<string, unknown>): Config {
  const root: Record<string, unknown> = {};
  for (const [at, value] of Object.entries(byPath)) {
    const keys = at.split('.');
    const last = keys.pop() as string;
    let parent = root;
    for (const key of keys) {
      parent[key] ??= {};
      parent = parent[key] as Record<string, unknown>;
    }
    parent[last] = value;
  }
  return root as unknown as Config;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * The environment without the server's own variables (every row of the schema: its
 * secrets and store addresses among them): what a child process the node starts, such as
 * the assistant, inherits (PATH, HOME, locale, proxies, and its own variables like LLM_*).
 */
export function withoutServerVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && !Object.hasOwn(envSchema, entry[0]),
    ),
  );
}
