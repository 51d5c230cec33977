import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { k8sTool, run } from '../helpers/k8s-tools.js';

// The Grafana dashboard (deploy/grafana/dashboards/voicehelper.json): it asks which
// Prometheus to read ($datasource) and which nodes to show ($node), and every query honours
// both. Which metrics it names is checked against a running node by
// test/integration/monitoring.test.ts; here, that its PromQL parses (promtool).

interface Target {
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Variable {
  name: string;
  type: string;
  query?: string | { query: string };
  datasource?: { type: string; uid: string };
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}
const dashboard = JSON.parse(
  readFileSync(path.join(packageRoot(), 'deploy', 'grafana', 'dashboards', 'voicehelper.json'), 'utf8'),
) as {
  templating: { list: Variable[] };
  panels: { title: string; datasource: { type: string; uid: string }; targets: Target[] }[];
};
const variables = new Map(dashboard.templating.list.map((variable) => [variable.name, variable]));
const targets = dashboard.panels.flatMap((panel) => panel.targets.map((target) => ({ panel: panel.title, target })));
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const selectedDatasource = { type: 'prometheus', uid: '${datasource}' };

describe('the Grafana dashboard', () => {
  it('has a Prometheus datasource variable and a node variable (several, or all) read from it', () => {
    expect(variables.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    const node = variables.get('node');
    expect(node).toMatchObject({ type: 'query', multi: true, includeAll: true, allValue: '.*' });
    expect(node?.datasource).toEqual(selectedDatasource);
    const query = typeof node?.query === 'string' ? node.query : node?.query?.query;
    expect(query).toMatch(/^label_values\(voicehelper_[a-z_]+, instance\)$/);
  });

  it('reads every panel from the chosen datasource', () => {
    expect(dashboard.panels.length).toBeGreaterThan(5);
    for (const panel of dashboard.panels) expect(panel.datasource, panel.title).toEqual(selectedDatasource);
    for (const { panel, target } of targets) {
      if (target.datasource !== undefined) expect(target.datasource, panel).toEqual(selectedDatasource);
    }
  });

  it('shows the chosen nodes only: every series selector matches instance=~"$node"', () => {
    for (const { panel, target } of targets) {
      const selectors = [...target.expr.matchAll(/\b(?:voicehelper|nodejs|process)_[a-z0-9_]+(\{[^}]*\})?/g)];
      expect(selectors.length, `${panel}: ${target.expr}`).toBeGreaterThan(0);
      for (const [selector, labels] of selectors) {
        expect(labels ?? '', `${panel}: ${selector}`).toContain('instance=~"$node"');
      }
    }
  });

  it('queries in PromQL that Prometheus parses (promtool check rules, one recording rule each)', async () => {
    const rules = {
      groups: [
        {
          name: 'dashboard',
          rules: targets.map(({ target }, i) => ({
            record: `dashboard:query_${i}`,
            expr: target.expr.replaceAll('$node', '.*'),
          })),
        },
      ],
    };
    const dir = mkdtempSync(path.join(tmpdir(), 'vh-dashboard-'));
    try {
      const file = path.join(dir, 'dashboard-queries.yml');
      writeFileSync(file, stringify(rules));
      const result = await run(k8sTool('PROMTOOL_BIN'), ['check', 'rules', file]);
      expect(result.code, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain(`${targets.length} rules found`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
