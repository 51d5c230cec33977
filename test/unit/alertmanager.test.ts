import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { k8sTool, run } from '../helpers/k8s-tools.js';

// Compose's Alertmanager: Prometheus sends it the alerts (deploy/prometheus/prometheus.yml,
// checked by promtool), and it routes every severity the rules use to a receiver of that
// name (deploy/alertmanager/alertmanager.yml). No Docker engine runs here: the compose
// service is checked statically, like test/unit/compose.test.ts does.

interface Route {
  receiver?: string;
  matchers?: string[];
  routes?: Route[];
}
const root = packageRoot();
const read = (...parts: string[]) => readFileSync(path.join(root, ...parts), 'utf8');
const alertmanager = parse(read('deploy', 'alertmanager', 'alertmanager.yml')) as {
  route: Route;
  receivers: { name: string }[];
};
const rules = parse(read('deploy', 'prometheus', 'alerts.yml')) as {
  groups: { rules: { alert: string; labels: { severity: string } }[] }[];
};
const prometheus = parse(read('deploy', 'prometheus', 'prometheus.yml')) as {
  rule_files: string[];
  alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
  scrape_configs: { authorization?: { credentials_file?: string } }[];
};
const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<
    string,
    { image?: string; command?: string[]; volumes?: string[]; ports?: string[]; healthcheck?: { test: unknown } }
  >;
};

/** The receiver Alertmanager picks for an alert's labels: the first child route that matches, else its parent's. */
function receiverFor(route: Route, labels: Record<string, string>, inherited = ''): string {
  const own = route.receiver ?? inherited;
  for (const child of route.routes ?? []) {
    const matches = (child.matchers ?? []).every((matcher) => {
      const [, name, value] = /^(\w+)="(.*)"$/.exec(matcher) ?? [];
      if (name === undefined) throw new Error(`unsupported matcher ${matcher}`);
      return labels[name] === value;
    });
    if (matches) return receiverFor(child, labels, own);
  }
  return own;
}

describe("compose's Alertmanager", () => {
  it('routes every alert to the receiver named as its severity, and names only receivers it has', () => {
    const receivers = new Set(alertmanager.receivers.map((receiver) => receiver.name));
    for (const rule of rules.groups.flatMap((group) => group.rules)) {
      const receiver = receiverFor(alertmanager.route, { alertname: rule.alert, ...rule.labels });
      expect(receiver, rule.alert).toBe(rule.labels.severity);
      expect(receivers.has(receiver), receiver).toBe(true);
    }
  });

  it('is where Prometheus sends alerts, in a configuration promtool accepts', async () => {
    const service = compose.services['alertmanager'];
    expect(service?.image).toMatch(/^quay\.io\/prometheus\/alertmanager:v\d+\.\d+\.\d+$/);
    expect(prometheus.alerting.alertmanagers[0]?.static_configs[0]?.targets).toEqual(['alertmanager:9093']);
    // promtool reads the rule and token files it names: copies at paths of this machine.
    const dir = mkdtempSync(path.join(tmpdir(), 'vh-prometheus-'));
    try {
      writeFileSync(path.join(dir, 'metrics_token'), 'token\n');
      const local = structuredClone(prometheus);
      local.rule_files = [path.join(root, 'deploy', 'prometheus', 'alerts.yml')];
      for (const job of local.scrape_configs) {
        if (job.authorization?.credentials_file !== undefined)
          job.authorization.credentials_file = path.join(dir, 'metrics_token');
      }
      writeFileSync(path.join(dir, 'prometheus.yml'), stringify(local));
      const result = await run(k8sTool('PROMTOOL_BIN'), ['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs in compose with its configuration, health-checked, on the host loopback only', () => {
    const service = compose.services['alertmanager'];
    const configFlag = (service?.command ?? []).find((arg) => arg.startsWith('--config.file='));
    const configPath = configFlag?.split('=')[1];
    expect(service?.volumes).toContain(`./deploy/alertmanager/alertmanager.yml:${configPath}:ro`);
    expect(service?.healthcheck?.test).toBeDefined();
    for (const port of service?.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
  });
});
