import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { envSchema, SECRET_VARIABLES } from '../../src/config/schema.js';
import { packageRoot } from '../../src/util/package-root.js';
import { k8sTool, run } from '../helpers/k8s-tools.js';

// No Kubernetes cluster runs here. The chart is checked offline: `helm lint`, `helm
// template` with each profile, every rendered object validated against the Kubernetes API
// schema of k8s.io/kubernetes (and the Prometheus Operator's CRDs) by kubeconform, and what
// the objects say checked against the node's own configuration and drain. The tools come
// from scripts/k8s-tools.sh (`npm test` sources it).

interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe?: { httpGet: { path: string; port: string } };
  livenessProbe?: { httpGet: { path: string; port: string } };
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  /** Each kind's spec, read where it is checked. */
  spec?: any;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

const root = packageRoot();
const chart = path.join(root, 'deploy', 'helm', 'voicehelper');
const clusterValues = path.join(chart, 'values-cluster.yaml');
const release = 'vh';
const namespace = 'voice';

const profiles = {
  default: [] as string[],
  cluster: ['-f', clusterValues],
};

async function render(args: readonly string[]): Promise<{ text: string; manifests: Manifest[] }> {
  const result = await run(k8sTool('HELM_BIN'), ['template', release, chart, '--namespace', namespace, ...args]);
  if (result.code !== 0) throw new Error(`helm template ${args.join(' ')} failed:\n${result.stderr}`);
  const manifests = parseAllDocuments(result.stdout)
    .map((document) => document.toJS() as Manifest | null)
    .filter((manifest): manifest is Manifest => manifest !== null);
  return { text: result.stdout, manifests };
}

/** The message of a render the chart refuses. */
async function refusal(args: readonly string[]): Promise<string> {
  const result = await run(k8sTool('HELM_BIN'), ['template', release, chart, '--namespace', namespace, ...args]);
  expect(result.code, `helm template ${args.join(' ')} should fail`).not.toBe(0);
  return result.stderr;
}

function find(manifests: Manifest[], kind: string, name?: string): Manifest[] {
  return manifests.filter((m) => m.kind === kind && (name === undefined || m.metadata.name === name));
}

function one(manifests: Manifest[], kind: string, name?: string): Manifest {
  const found = find(manifests, kind, name);
  expect(
    found.map((m) => m.metadata.name),
    `${kind} ${name ?? ''}`,
  ).toHaveLength(1);
  return found[0] as Manifest;
}

/** The server's Deployment and its container. */
function server(manifests: Manifest[]): { deployment: Manifest; container: Container } {
  const deployment = one(manifests, 'Deployment', `${release}-voicehelper`);
  return { deployment, container: deployment.spec.template.spec.containers[0] as Container };
}

/** kubeconform over a stream of manifests, strict, with the generated schemas only (offline). */
async function kubeconform(text: string): Promise<{ code: number; summary: Record<string, number>; output: string }> {
  const schemas = k8sTool('KUBE_SCHEMAS_DIR');
  const result = await run(
    k8sTool('KUBECONFORM_BIN'),
    [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-schema-location',
      `${schemas}/{{ .ResourceKind }}{{ .KindSuffix }}.json`,
      '-',
    ],
    text,
  );
  const output = JSON.parse(result.stdout) as { summary: Record<string, number> };
  return { code: result.code, summary: output.summary, output: result.stdout };
}

/** A strong, fresh value for each secret variable, of the form the node parses. */
function secretValue(name: string): string {
  const token = randomBytes(32).toString('base64url');
  switch (name) {
    case 'DATABASE_URL':
      return `postgres://voicehelper:${token}@postgres.db.svc:5432/voicehelper`;
    case 'REDIS_URL':
      return `redis://:${token}@redis.cache.svc:6379`;
    case 'REDIS_CLUSTER_NODES':
      return [1, 2, 3].map((n) => `redis://:${token}@redis-${n}.cache.svc:6379`).join(',');
    case 'LOCK_REDIS_URLS':
      return [1, 2, 3].map((n) => `redis://:${token}@lock-${n}.cache.svc:6379`).join(',');
    default:
      return token;
  }
}

/** What the node's process sees: the ConfigMap's variables, then its own env entries. */
function nodeEnvironment(manifests: Manifest[]): { env: Record<string, string>; fromSecret: string[] } {
  const { container } = server(manifests);
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    expect(source.secretRef, 'secrets come one by one (secretKeyRef), never a whole Secret').toBeUndefined();
    const configMap = one(manifests, 'ConfigMap', source.configMapRef?.name);
    Object.assign(env, configMap.data);
  }
  const fromSecret: string[] = [];
  for (const entry of container.env ?? []) {
    const key = entry.valueFrom?.secretKeyRef;
    if (key !== undefined) {
      expect(key.key).toBe(entry.name);
      fromSecret.push(entry.name);
      env[entry.name] = secretValue(entry.name);
    } else if (entry.value !== undefined) {
      env[entry.name] = entry.value;
    } else {
      env[entry.name] = 'pod-name-from-the-downward-api';
    }
  }
  return { env, fromSecret };
}

describe('files/alerts.yml', () => {
  it('is the same file as deploy/prometheus/alerts.yml (the rules have one source)', () => {
    expect(readFileSync(path.join(chart, 'files', 'alerts.yml'), 'utf8')).toBe(
      readFileSync(path.join(root, 'deploy', 'prometheus', 'alerts.yml'), 'utf8'),
    );
  });
});

describe.each(Object.entries(profiles))('the chart with the %s values', (profile, args) => {
  let rendered: { text: string; manifests: Manifest[] };
  beforeAll(async () => {
    rendered = await render(args);
  });

  it('passes helm lint --strict', async () => {
    const result = await run(k8sTool('HELM_BIN'), ['lint', '--strict', chart, ...args]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('renders only objects that the Kubernetes API schema accepts (kubeconform, strict, none skipped)', async () => {
    const { code, summary, output } = await kubeconform(rendered.text);
    expect(code, output).toBe(0);
    expect(summary).toEqual({ valid: rendered.manifests.length, invalid: 0, errors: 0, skipped: 0 });
  });

  it('gives the node a configuration it accepts, secrets only from the Secret', () => {
    const { env, fromSecret } = nodeEnvironment(rendered.manifests);
    expect(Object.keys(env).filter((name) => !(name in envSchema))).toEqual([]);
    expect([...fromSecret].sort()).toEqual(fromSecret.filter((name) => SECRET_VARIABLES.has(name)).sort());
    const configMapKeys = Object.keys(one(rendered.manifests, 'ConfigMap').data ?? {});
    expect(configMapKeys.filter((name) => SECRET_VARIABLES.has(name))).toEqual([]);
    expect(fromSecret).toEqual(expect.arrayContaining(['JWT_SECRET', 'METRICS_TOKEN', 'DATABASE_URL']));
    const config = loadConfig(env);
    expect(config.http.port).toBe(3000);
    // The assistant is a Deployment of its own, never a node's child.
    expect(env['ASSISTANT']).toBe('off');
    expect(config.tracing).toMatchObject(
      profile === 'cluster'
        ? { endpoint: 'http://otel-collector.observability.svc:4318', sampleRatio: 0.1 }
        : { endpoint: undefined },
    );
    if (profile === 'cluster') {
      expect(fromSecret).toContain('REDIS_CLUSTER_NODES');
      expect(fromSecret).not.toContain('REDIS_URL');
      expect(env['MILVUS_ADDRESS']).toBeDefined();
      expect(env['NEO4J_URI']).toBeDefined();
    } else {
      expect(fromSecret).toContain('REDIS_URL');
      expect(fromSecret).not.toContain('REDIS_CLUSTER_NODES');
    }
  });

  it('probes /readyz for readiness and /healthz for liveness on the port the node listens on', () => {
    const { container } = server(rendered.manifests);
    const { env } = nodeEnvironment(rendered.manifests);
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.ports).toEqual([{ name: 'http', containerPort: loadConfig(env).http.port, protocol: 'TCP' }]);
  });

  it('gives the drain its whole time: preStop, SHUTDOWN_TIMEOUT_MS, then the hard stop, within the grace period', () => {
    const { deployment, container } = server(rendered.manifests);
    const { env } = nodeEnvironment(rendered.manifests);
    const shutdownMs = loadConfig(env).shutdownTimeoutMs;
    // The chart keeps the node's own default (src/config) unless told otherwise.
    expect(shutdownMs).toBe(envSchema.SHUTDOWN_TIMEOUT_MS.parse(undefined));
    // src/main.ts exits at the latest 5 s after SHUTDOWN_TIMEOUT_MS.
    const main = readFileSync(path.join(root, 'src', 'main.ts'), 'utf8');
    const hardStopMs = Number(/config\.shutdownTimeoutMs \+ ([\d_]+)\)/.exec(main)?.[1]?.replace(/_/g, ''));
    expect(hardStopMs).toBe(5_000);
    const preStop = container.lifecycle?.preStop?.exec?.command;
    expect(preStop?.[0]).toBe('sleep');
    const preStopSeconds = Number(preStop?.[1]);
    expect(preStopSeconds).toBeGreaterThan(0);
    const grace = deployment.spec.template.spec.terminationGracePeriodSeconds as number;
    expect(grace).toBeGreaterThanOrEqual(preStopSeconds + (shutdownMs + hardStopMs) / 1000);
    // ... and not far beyond it: a node that hangs is killed soon after its own hard stop.
    expect(grace).toBeLessThanOrEqual(preStopSeconds + (shutdownMs + hardStopMs) / 1000 + 10);
    expect(deployment.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
  });

  it('serves every ready node through the Service and the Ingress, with no affinity', () => {
    const { deployment } = server(rendered.manifests);
    const podLabels = deployment.spec.template.metadata.labels as Record<string, string>;
    const service = one(rendered.manifests, 'Service');
    expect(service.spec.sessionAffinity).toBe('None');
    expect(podLabels).toMatchObject(service.spec.selector);
    expect(service.spec.ports).toEqual([expect.objectContaining({ name: 'http', targetPort: 'http' })]);
    const ingress = one(rendered.manifests, 'Ingress');
    const backend = ingress.spec.rules[0].http.paths[0].backend.service;
    expect(backend).toEqual({ name: service.metadata.name, port: { name: 'http' } });
    const annotations = Object.keys(ingress.metadata.annotations ?? {});
    expect(annotations.filter((name) => /affinity|sticky|upstream-hash/.test(name))).toEqual([]);
    // Idle WebSockets must outlive the controller's read timeout (the default is 60 s).
    expect(Number(ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/proxy-read-timeout'])).toBeGreaterThan(
      60,
    );
  });

  it('lets one node at a time go for voluntary disruptions, over the nodes only', () => {
    const { deployment } = server(rendered.manifests);
    const pdb = one(rendered.manifests, 'PodDisruptionBudget');
    expect(pdb.spec.maxUnavailable).toBe(1);
    expect(deployment.spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    const assistant = one(rendered.manifests, 'Deployment', `${release}-voicehelper-assistant`);
    expect(assistant.spec.template.metadata.labels).not.toMatchObject(pdb.spec.selector.matchLabels);
  });

  it('runs the assistant as its own Deployment, connected to the Service with its API key from a Secret', () => {
    const assistant = one(rendered.manifests, 'Deployment', `${release}-voicehelper-assistant`);
    const service = one(rendered.manifests, 'Service');
    const container = assistant.spec.template.spec.containers[0] as Container;
    expect(container.command).toEqual(['python', '-m', 'voicehelper_assistant']);
    const env = Object.fromEntries((container.env ?? []).map((entry) => [entry.name, entry]));
    expect(env['VOICEHELPER_URLS']?.value).toBe(
      `http://${service.metadata.name}.${namespace}.svc:${service.spec.ports[0].port as number}`,
    );
    expect(env['VOICEHELPER_API_KEY']?.valueFrom?.secretKeyRef).toEqual({
      name: `${release}-voicehelper-assistant`,
      key: 'VOICEHELPER_API_KEY',
    });
    expect(assistant.spec.replicas).toBe(profile === 'cluster' ? 2 : 1);
    if (profile === 'cluster') {
      expect(env['LLM_BASE_URL']?.value).toMatch(/^http/);
      expect(env['LLM_API_KEY']?.valueFrom?.secretKeyRef).toEqual({
        name: `${release}-voicehelper-assistant`,
        key: 'LLM_API_KEY',
      });
    } else {
      expect(Object.keys(env).sort()).toEqual(['VOICEHELPER_API_KEY', 'VOICEHELPER_URLS']);
    }
  });

  if (profile === 'default') {
    it('runs a fixed number of nodes with no autoscaler and no Prometheus Operator objects', () => {
      expect(server(rendered.manifests).deployment.spec.replicas).toBe(2);
      expect(find(rendered.manifests, 'HorizontalPodAutoscaler')).toEqual([]);
      expect(find(rendered.manifests, 'ServiceMonitor')).toEqual([]);
      expect(find(rendered.manifests, 'PrometheusRule')).toEqual([]);
      expect(find(rendered.manifests, 'Secret')).toEqual([]);
    });
  } else {
    it('leaves the number of nodes to the autoscaler, from 3, scaling down one node at a time', () => {
      const { deployment } = server(rendered.manifests);
      expect(deployment.spec.replicas).toBeUndefined();
      const hpa = one(rendered.manifests, 'HorizontalPodAutoscaler');
      expect(hpa.spec.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment.metadata.name,
      });
      expect(hpa.spec.minReplicas).toBe(3);
      expect(hpa.spec.metrics[0].resource.name).toBe('cpu');
      expect(hpa.spec.behavior.scaleDown.policies).toEqual([expect.objectContaining({ type: 'Pods', value: 1 })]);
    });

    it('scrapes the nodes as job "voicehelper" with METRICS_TOKEN, and alerts with the shipped rules', () => {
      const service = one(rendered.manifests, 'Service');
      const monitor = one(rendered.manifests, 'ServiceMonitor');
      expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
      const endpoint = monitor.spec.endpoints[0];
      expect(endpoint.port).toBe(service.spec.ports[0].name);
      expect(endpoint.path).toBe('/metrics');
      expect(endpoint.authorization.credentials).toEqual({
        name: `${release}-voicehelper-secrets`,
        key: 'METRICS_TOKEN',
      });
      expect(endpoint.relabelings).toContainEqual({
        action: 'replace',
        targetLabel: 'job',
        replacement: 'voicehelper',
      });
      const rules = parse(readFileSync(path.join(root, 'deploy', 'prometheus', 'alerts.yml'), 'utf8')) as unknown;
      const rule = one(rendered.manifests, 'PrometheusRule');
      expect(rule.spec).toEqual(rules);
      expect(rule.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    });
  }
});

describe('the chart with assistant.enabled=false', () => {
  it('leaves the assistant out and the nodes as they were', async () => {
    const off = await render(['--set', 'assistant.enabled=false']);
    expect(find(off.manifests, 'Deployment').map((m) => m.metadata.name)).toEqual([`${release}-voicehelper`]);
    expect(off.manifests.map((m) => m.kind).sort()).toEqual(
      ['ConfigMap', 'Deployment', 'Ingress', 'PodDisruptionBudget', 'Service'].sort(),
    );
  });
});

describe('the chart refuses', () => {
  it('several nodes on stores that each node keeps for itself', async () => {
    expect(await refusal(['--set', 'stores.postgres.enabled=false'])).toContain('stores.postgres.enabled');
    expect(await refusal(['--set', 'stores.redis.mode=off'])).toContain('stores.redis.mode');
    expect(await refusal(['--set', 'stores.s3.enabled=false'])).toContain('stores.s3.enabled');
    const one = ['--set', 'replicaCount=1', '--set', 'stores.postgres.enabled=false', '--set', 'stores.redis.mode=off'];
    const single = await render([...one, '--set', 'stores.s3.enabled=false']);
    const { fromSecret } = nodeEnvironment(single.manifests);
    expect(fromSecret.sort()).toEqual(['JWT_SECRET', 'METRICS_TOKEN']);
    expect(await refusal([...one, '--set', 'autoscaling.enabled=true'])).toContain('stores.postgres.enabled');
  });

  it('a secret in the ConfigMap or among the assistant plain variables, and an unknown Redis mode', async () => {
    expect(await refusal(['--set', 'config.JWT_SECRET=abc'])).toContain('config.JWT_SECRET is a secret');
    expect(await refusal(['--set', 'assistant.env.LLM_API_KEY=abc'])).toContain(
      'assistant.env.LLM_API_KEY is a secret',
    );
    expect(await refusal(['--set', 'stores.redis.mode=sentinel'])).toContain('stores.redis.mode');
  });

  it('to make a Secret with any value missing: secrets have no defaults', async () => {
    expect(await refusal(['--set', 'secret.create=true'])).toContain('secret.values.JWT_SECRET is required');
    const values = ['JWT_SECRET', 'METRICS_TOKEN', 'DATABASE_URL', 'REDIS_URL', 'S3_ACCESS_KEY'];
    const partial = values.flatMap((name) => ['--set', `secret.values.${name}=${secretValue(name)}`]);
    expect(await refusal(['--set', 'secret.create=true', ...partial])).toContain(
      'secret.values.S3_SECRET_KEY is required',
    );
    const whole = [...partial, '--set', `secret.values.S3_SECRET_KEY=${secretValue('S3_SECRET_KEY')}`];
    const { manifests } = await render(['--set', 'secret.create=true', ...whole]);
    const secret = one(manifests, 'Secret', `${release}-voicehelper-secrets`);
    expect(Object.keys(secret.stringData ?? {}).sort()).toEqual([...values, 'S3_SECRET_KEY'].sort());
  });
});

describe('the schemas kubeconform validates against', () => {
  it('reject a field the API does not have, a wrong type, and an unknown apiVersion', async () => {
    const { manifests } = await render(profiles.cluster);
    const deployment = structuredClone(server(manifests).deployment);
    deployment.spec.template.spec.containers[0].readinessprobe = { httpGet: { path: '/readyz', port: 'http' } };
    const service = structuredClone(one(manifests, 'Service'));
    service.spec.ports[0].port = 'eighty';
    const hpa = { ...structuredClone(one(manifests, 'HorizontalPodAutoscaler')), apiVersion: 'autoscaling/v2beta1' };
    const monitor = structuredClone(one(manifests, 'ServiceMonitor'));
    monitor.spec.endpoints[0].intervall = '15s';
    for (const broken of [deployment, service, monitor]) {
      const { code, summary } = await kubeconform(stringify(broken));
      expect(code, `${broken.kind} should be invalid`).not.toBe(0);
      expect(summary['invalid']).toBe(1);
    }
    const { code, summary } = await kubeconform(stringify(hpa));
    expect(code).not.toBe(0);
    expect(summary['errors']).toBe(1);
  });
});
