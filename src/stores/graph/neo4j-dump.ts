import neo4j, { type Driver } from 'neo4j-driver';
import type { GraphDump, GraphDumpRecord } from './graph-store.js';

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const BATCH = 500;

/** A label or relationship type from a dump, checked before it is written into Cypher (it cannot be a parameter). */
function name(value: string): string {
  if (!NAME.test(value))
    throw new Error(`the graph dump holds an invalid label or type: ${JSON.stringify(value).slice(0, 80)}`);
  return `\`${value}\``;
}

/** JSON for one property value, tagged with its Neo4j type where JSON alone would lose it. */
function encode(value: unknown, type: string): unknown {
  if (type.startsWith('INTEGER')) return { $int: Number(value) };
  if (type.startsWith('LIST<INTEGER')) return { $ints: (value as unknown[]).map(Number) };
  if (type.startsWith('ZONED DATETIME')) return { $dt: String(value) };
  if (type.startsWith('LIST<ZONED DATETIME')) return { $dts: (value as unknown[]).map(String) };
  return value;
}

function dateTime(text: string) {
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) throw new Error(`the graph dump holds an invalid datetime: ${text}`);
  const fraction = /\.(\d{1,9})/.exec(text)?.[1] ?? '0';
  const nanos = Number(fraction.padEnd(9, '0'));
  return new neo4j.types.DateTime(
    date.getUTCFullYear(),
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
    nanos,
    0,
  );
}

function decode(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const tagged = value as Record<string, unknown>;
  if ('$int' in tagged) return neo4j.int(tagged['$int'] as number);
  if ('$ints' in tagged) return (tagged['$ints'] as number[]).map((n) => neo4j.int(n));
  if ('$dt' in tagged) return dateTime(tagged['$dt'] as string);
  if ('$dts' in tagged) return (tagged['$dts'] as string[]).map(dateTime);
  return value;
}

function properties(raw: Record<string, unknown>, types: Array<[string, string]>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, type] of types) out[key] = encode(raw[key], type);
  return out;
}

function decoded(props: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, decode(v)]));
}

/**
 * Whole-graph export and import over Bolt. Nodes are identified by their first label and
 * `id` (every node of the model has a unique `id`); property types JSON cannot tell apart
 * (integers, datetimes) are tagged on export with `valueType()` and restored on import.
 */
export class Neo4jDump implements GraphDump {
  constructor(private readonly driver: Driver) {}

  async *export(): AsyncIterable<GraphDumpRecord> {
    const session = this.driver.session({ defaultAccessMode: neo4j.session.READ });
    try {
      const nodes = session.run(
        'MATCH (n) RETURN labels(n) AS labels, properties(n) AS props, [k IN keys(n) | [k, valueType(n[k])]] AS types',
      );
      for await (const record of nodes) {
        yield {
          kind: 'node',
          labels: record.get('labels') as string[],
          properties: properties(record.get('props'), record.get('types')),
        };
      }
      const relationships = session.run(
        `MATCH (a)-[r]->(b) RETURN labels(a)[0] AS al, a.id AS aid, type(r) AS type, labels(b)[0] AS bl, b.id AS bid,
           properties(r) AS props, [k IN keys(r) | [k, valueType(r[k])]] AS types`,
      );
      for await (const record of relationships) {
        yield {
          kind: 'relationship',
          type: record.get('type') as string,
          from: [record.get('al') as string, record.get('aid') as string],
          to: [record.get('bl') as string, record.get('bid') as string],
          properties: properties(record.get('props'), record.get('types')),
        };
      }
    } finally {
      await session.close();
    }
  }

  async import(records: AsyncIterable<GraphDumpRecord>): Promise<{ nodes: number; relationships: number }> {
    const counts = { nodes: 0, relationships: 0 };
    const pending = new Map<string, { cypher: string; rows: unknown[] }>();
    const session = this.driver.session({ defaultAccessMode: neo4j.session.WRITE });
    const flush = async (key: string) => {
      const batch = pending.get(key);
      if (batch === undefined || batch.rows.length === 0) return;
      pending.delete(key);
      await session.executeWrite((tx) => tx.run(batch.cypher, { rows: batch.rows }));
    };
    const add = async (key: string, cypher: string, row: unknown) => {
      const batch = pending.get(key) ?? { cypher, rows: [] };
      batch.rows.push(row);
      pending.set(key, batch);
      if (batch.rows.length >= BATCH) await flush(key);
    };
    try {
      let relationshipsStarted = false;
      for await (const record of records) {
        if (record.kind === 'node') {
          if (relationshipsStarted) throw new Error('the graph dump lists a node after relationships');
          const labels = record.labels.map(name).join(':');
          await add(`n:${labels}`, `UNWIND $rows AS row CREATE (n:${labels}) SET n = row`, decoded(record.properties));
          counts.nodes++;
        } else {
          if (!relationshipsStarted) {
            relationshipsStarted = true;
            for (const key of [...pending.keys()]) await flush(key);
          }
          const [fromLabel, toLabel, type] = [name(record.from[0]), name(record.to[0]), name(record.type)];
          await add(
            `r:${fromLabel}:${type}:${toLabel}`,
            `UNWIND $rows AS row MATCH (a:${fromLabel} {id: row.from}) MATCH (b:${toLabel} {id: row.to}) CREATE (a)-[r:${type}]->(b) SET r = row.props`,
            { from: record.from[1], to: record.to[1], props: decoded(record.properties) },
          );
          counts.relationships++;
        }
      }
      for (const key of [...pending.keys()]) await flush(key);
      return counts;
    } finally {
      await session.close();
    }
  }

  async count(): Promise<number> {
    const session = this.driver.session({ defaultAccessMode: neo4j.session.READ });
    try {
      const result = await session.run('MATCH (n) RETURN count(n) AS c');
      return Number(result.records[0]?.get('c') ?? 0);
    } finally {
      await session.close();
    }
  }
}
