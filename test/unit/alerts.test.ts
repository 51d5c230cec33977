import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { packageRoot } from '../../src/util/package-root.js';
import { k8sTool, run } from '../helpers/k8s-tools.js';

// The alert rules of deploy/prometheus/alerts.yml (compose's Prometheus, and the chart's
// PrometheusRule) under `promtool test rules` with deploy/prometheus/alerts.test.yml: each
// alert fires on a synthetic series that should fire it and stays quiet on one that should
// not. promtool comes from scripts/k8s-tools.sh (`npm test` sources it).

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
}
interface RuleTest {
  alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[];
}

const prometheusDir = path.join(packageRoot(), 'deploy', 'prometheus');
const rulesText = readFileSync(path.join(prometheusDir, 'alerts.yml'), 'utf8');
const testsText = readFileSync(path.join(prometheusDir, 'alerts.test.yml'), 'utf8');
const rules = parse(rulesText) as { groups: { name: string; rules: Rule[] }[] };
const alerts = rules.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);
const scratch = mkdtempSync(path.join(tmpdir(), 'vh-alerts-'));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** `promtool test rules` on the shipped tests, against the rules with one alert changed. */
async function testWithChangedAlert(name: string, change: (rule: Rule) => void): Promise<string> {
  const changed = structuredClone(rules);
  const rule = changed.groups.flatMap((group) => group.rules).find((r) => r.alert === name);
  if (rule === undefined) throw new Error(`no alert ${name}`);
  change(rule);
  const dir = mkdtempSync(path.join(scratch, 'case-'));
  writeFileSync(path.join(dir, 'alerts.yml'), stringify(changed));
  writeFileSync(path.join(dir, 'alerts.test.yml'), testsText);
  const result = await run(k8sTool('PROMTOOL_BIN'), ['test', 'rules', path.join(dir, 'alerts.test.yml')]);
  expect(result.code, `the tests should fail with ${name} changed:\n${result.stdout}${result.stderr}`).not.toBe(0);
  return result.stdout + result.stderr;
}

describe('deploy/prometheus/alerts.yml', () => {
  it('is valid for promtool check rules', async () => {
    const result = await run(k8sTool('PROMTOOL_BIN'), ['check', 'rules', path.join(prometheusDir, 'alerts.yml')]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain(`${alerts.length} rules found`);
  });

  it('passes its unit tests (promtool test rules deploy/prometheus/alerts.test.yml)', async () => {
    const result = await run(k8sTool('PROMTOOL_BIN'), ['test', 'rules', path.join(prometheusDir, 'alerts.test.yml')]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('has, for every alert, a test where it fires and one where it stays quiet', () => {
    const tests = (parse(testsText) as { tests: RuleTest[] }).tests.flatMap((test) => test.alert_rule_test ?? []);
    expect(alerts.length).toBeGreaterThan(0);
    for (const { alert } of alerts) {
      const cases = tests.filter((test) => test.alertname === alert);
      expect(
        cases.some((test) => (test.exp_alerts ?? []).length > 0),
        `${alert} is never expected to fire`,
      ).toBe(true);
      expect(
        cases.some((test) => (test.exp_alerts ?? []).length === 0),
        `${alert} is never expected to stay quiet`,
      ).toBe(true);
    }
    const named = new Set(alerts.map((rule) => rule.alert));
    expect(tests.map((test) => test.alertname).filter((name) => !named.has(name))).toEqual([]);
  });

  // The tests can fail: an alert that never fires fails its firing case, and an alert whose
  // threshold is dropped (every series it sees fires it) fails its quiet case.
  it.each(alerts.map((rule) => rule.alert as string))('tests %s both ways', async (name) => {
    const neverFires = await testWithChangedAlert(name, (rule) => {
      rule.expr = 'vector(0) > 1';
    });
    expect(neverFires).toContain(name);
    const anyValueFires = await testWithChangedAlert(name, (rule) => {
      const withoutThreshold = rule.expr.trim().replace(/\s*(==|>)\s*[\d.e-]+$/, ' >= 0');
      expect(withoutThreshold, `${name}'s expr should end with a threshold`).not.toBe(rule.expr.trim());
      rule.expr = withoutThreshold;
    });
    expect(anyValueFires).toContain(name);
  });
});
