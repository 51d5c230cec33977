import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { TestCluster } from '../helpers/cluster.js';

// The Grafana dashboard and the Prometheus alert rules in deploy/ name metrics by hand:
// each one must be exported by a running node, or a panel stays empty and an alert never
// fires without anyone noticing.
const root = packageRoot();
const read = (...parts: string[]) => readFileSync(path.join(root, 'deploy', ...parts), 'utf8');
const alerts = parse(read('prometheus', 'alerts.yml')) as {
  groups: { rules: { alert: string; expr: string; labels?: { severity?: string } }[] }[];
};
const dashboard = JSON.parse(read('grafana', 'dashboards', 'voicehelper.json')) as {
  uid: string;
  panels: { title: string; targets: { expr: string }[] }[];
};
const expressions = [
  ...alerts.groups.flatMap((g) => g.rules.map((r) => r.expr)),
  ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
];
/** Metric names in PromQL expressions (ours and the Node.js defaults; `up` is Prometheus's own). */
const named = [
  ...new Set(expressions.flatMap((expr) => expr.match(/\b(?:voicehelper|nodejs|process)_[a-z0-9_]+\b/g) ?? [])),
].sort();

describe('monitoring: dashboard and alert rules against a node', () => {
  let cluster: TestCluster;
  let exported: Set<string>;

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
    const text = await (await fetch(`${cluster.urls[0]}/metrics`)).text();
    exported = new Set(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) =>
        type === 'histogram' ? [`${name}_bucket`, `${name}_sum`, `${name}_count`] : [name as string],
      ),
    );
  });
  afterAll(() => cluster?.stop());

  it('names only metrics that /metrics exports', () => {
    expect(named.length).toBeGreaterThan(10);
    expect(named.filter((name) => !exported.has(name))).toEqual([]);
  });

  it('alerts on error rate, ack latency, dependencies down and slow consumers, each with a severity', () => {
    const rules = alerts.groups.flatMap((g) => g.rules);
    const find = (metric: string) => rules.filter((r) => r.expr.includes(metric)).map((r) => r.alert);
    expect(find('voicehelper_socket_events_total{outcome=~"UNAVAILABLE|INTERNAL"}')).not.toEqual([]);
    expect(find('voicehelper_socket_event_duration_seconds_bucket{event="message:send"}')).not.toEqual([]);
    expect(find('voicehelper_dependency_up')).not.toEqual([]);
    expect(find('voicehelper_slow_consumer_disconnects_total')).not.toEqual([]);
    for (const rule of rules) expect(['page', 'warn'], rule.alert).toContain(rule.labels?.severity);
  });

  it('is provisioned in docker-compose.yml: Prometheus scrapes every node, Grafana loads the dashboard', () => {
    const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { build?: unknown; volumes?: string[] }>;
    };
    // The nodes: the services built from the repository's own Dockerfile (the assistant has its own).
    const nodes = Object.entries(compose.services)
      .filter(([, s]) => s.build === '.')
      .map(([name]) => `${name}:3000`);
    const prometheus = parse(read('prometheus', 'prometheus.yml')) as {
      rule_files: string[];
      scrape_configs: { static_configs: { targets: string[] }[] }[];
    };
    expect(prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets)).sort()).toEqual(
      nodes.sort(),
    );
    const mounts = (service: string) =>
      (compose.services[service]?.volumes ?? []).map((v) => v.split(':').slice(0, 2).join(':'));
    expect(mounts('prometheus')).toEqual(
      expect.arrayContaining(prometheus.rule_files.map((file) => `./deploy/prometheus/${path.basename(file)}:${file}`)),
    );
    const provider = parse(read('grafana', 'provisioning', 'dashboards', 'voicehelper.yml')) as {
      providers: { options: { path: string } }[];
    };
    expect(mounts('grafana')).toContain(`./deploy/grafana/dashboards:${provider.providers[0]?.options.path}`);
  });
});
