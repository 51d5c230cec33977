import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { envSchema, SECRET_VARIABLES } from '../../src/config/schema.js';
import { EMBEDDED_PG_MAJOR } from '../../src/stores/postgres/embedded-postgres.js';
import { packageRoot } from '../../src/util/package-root.js';
import { SERVICE_VARIABLES } from '../helpers/env.js';

// No Docker engine runs here, so the compose file is checked statically: every service the
// app needs is there and healthy-checked, and every node gets every variable it reads.

interface Service {
  image?: string;
  build?: unknown;
  profiles?: string[];
  environment?: Record<string, string | number | null>;
  healthcheck?: { test: unknown };
  depends_on?: Record<string, unknown>;
  volumes?: string[];
  ports?: string[];
  networks?: Record<string, { ipv4_address?: string } | null>;
  secrets?: string[];
}

const root = packageRoot();
const text = readFileSync(path.join(root, 'docker-compose.yml'), 'utf8');
const compose = parse(text, { merge: true }) as {
  services: Record<string, Service>;
  networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
  secrets?: Record<string, { environment?: string; file?: string }>;
};
const services = compose.services;
/** The server nodes: the services built from the root Dockerfile (the assistant has its own). */
const nodes = Object.entries(services).filter(([, s]) => s.build === '.');

/** Variables compose requires (`${NAME:?message}`): the stack's secrets. */
const required = [...new Set([...text.matchAll(/\$\{([A-Z0-9_]+):\?[^}]*\}/g)].map((m) => m[1] as string))].sort();
/** What an operator following .env.example would set: a fresh strong value for each. */
const operatorEnv = Object.fromEntries(required.map((name) => [name, randomBytes(32).toString('hex')]));

/** Resolves `${NAME:-default}` and `${NAME:?message}` the way compose does with .env filled in as .env.example says. */
function resolve(value: string | number): string {
  return String(value)
    .replace(/\$\{([A-Z0-9_]+):-([^}]*)\}/g, '$2')
    .replace(/\$\{([A-Z0-9_]+):\?[^}]*\}/g, (_match, name: string) => operatorEnv[name] ?? '');
}

/** Every variable a clustered node must be given (PROTOCOL section 9). */
const CLUSTER_VARIABLES = ['PORT', 'NODE_ID', 'JWT_SECRET', ...SERVICE_VARIABLES];

describe('docker-compose.yml', () => {
  it('has every store, Milvus dependencies, two or more server nodes and a load balancer', () => {
    for (const name of ['postgres', 'redis', 'etcd', 'milvus-s3', 'milvus', 'neo4j', 's3', 'lb']) {
      expect(services, name).toHaveProperty(name);
    }
    expect(nodes.length).toBeGreaterThanOrEqual(2);
    expect(services['neo4j']?.image).toMatch(/^neo4j:5/);
    expect(String(services['neo4j']?.environment?.['NEO4J_PLUGINS'])).toContain('graph-data-science');
    expect(services['milvus']?.environment).toMatchObject({
      ETCD_ENDPOINTS: 'etcd:2379',
      MINIO_ADDRESS: 'milvus-s3:9000',
    });
  });

  it('health-checks every service, and nodes wait for healthy stores', () => {
    for (const [name, service] of Object.entries(services)) expect(service.healthcheck?.test, name).toBeDefined();
    for (const [, node] of nodes) {
      expect(Object.keys(node.depends_on ?? {}).sort()).toEqual(['milvus', 'neo4j', 'postgres', 'redis', 's3']);
    }
  });

  it.each(nodes.map(([name]) => name))('gives node %s every variable it reads, and only known ones', (name) => {
    const environment = services[name]?.environment ?? {};
    for (const variable of CLUSTER_VARIABLES) expect(environment, variable).toHaveProperty(variable);
    for (const variable of Object.keys(environment)) expect(Object.keys(envSchema), variable).toContain(variable);
  });

  it.each(nodes.map(([name]) => name))(
    'gives node %s values the server accepts, pointing at services of the stack',
    (name) => {
      const raw = services[name]?.environment ?? {};
      const env = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, resolve(v ?? '')]));
      const config = loadConfig(env);
      expect(config.embeddedDefault).toBe(false);
      const hosts = [
        new URL(env['DATABASE_URL'] ?? '').hostname,
        new URL(env['REDIS_URL'] ?? '').hostname,
        (env['MILVUS_ADDRESS'] ?? '').split(':')[0],
        new URL(env['NEO4J_URI'] ?? '').hostname,
        new URL(env['S3_ENDPOINT'] ?? '').hostname,
        new URL(env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '').hostname,
      ];
      for (const host of hosts) expect(services, String(host)).toHaveProperty(String(host));
    },
  );

  it('uses images that exist and are maintained: both S3 stores the Versity gateway the tests run, no MinIO, Milvus at the version the tests run, with the SDK of its line', () => {
    for (const [name, service] of Object.entries(services)) {
      expect(service.image ?? 'built', name).not.toMatch(/minio\//);
    }
    const versity = /^VERSITYGW_VERSION=(\S+)$/m.exec(
      readFileSync(path.join(root, 'test', 'infra', 'services.sh'), 'utf8'),
    )?.[1];
    expect(services['s3']?.image).toBe(`versity/versitygw:${versity}`);
    expect(services['milvus-s3']?.image).toBe(`versity/versitygw:${versity}`);
    // One PostgreSQL major everywhere: the embedded default's, which the tests run too.
    expect(services['postgres']?.image).toBe(`postgres:${EMBEDDED_PG_MAJOR}`);
    const tested = /^MILVUS_VERSION=(\S+)$/m.exec(
      readFileSync(path.join(root, 'test', 'infra', 'services.sh'), 'utf8'),
    )?.[1];
    expect(tested).toBeDefined();
    expect(services['milvus']?.image).toBe(`milvusdb/milvus:v${tested}`);
    const sdk = (
      JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
    ).dependencies['@zilliz/milvus2-sdk-node'];
    // The SDK of the server's own line (its compatibility notes: 3.0.x is for Milvus 3.0 and later).
    expect(sdk?.split('.').slice(0, 2)).toEqual(tested?.split('.').slice(0, 2));
  });

  it('the image says whether its node is ready, on the port it listens on', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const check = /^HEALTHCHECK [^\n]*\\\n\s+CMD (\[.*\])$/m.exec(dockerfile)?.[1];
    expect(check).toBeDefined();
    const command = JSON.parse(check as string) as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command[2]).toContain('process.env.PORT || 3000}/readyz');
  });

  it('the image can write its data directory', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const user = /^USER (\S+)$/m.exec(dockerfile)?.[1];
    const dataDir = /^ENV DATA_DIR=(\S+)$/m.exec(dockerfile)?.[1];
    expect(user).toBe('node');
    expect(dockerfile).toContain(`chown ${user}:${user} ${dataDir}`);
  });

  it('builds the image on Node 24 as `npm start` builds, the browser app included', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(bases).toEqual(['node:24-bookworm-slim', 'node:24-bookworm-slim']);
    expect(dockerfile).toContain('RUN bash scripts/build.sh');
    // Everything the build reads is in the build context the Dockerfile copies.
    const build = readFileSync(path.join(root, 'scripts', 'build.sh'), 'utf8');
    const read = /find ([^-]+?) -type f/.exec(build)?.[1]?.split(' ') ?? [];
    expect(read.length).toBeGreaterThan(0);
    for (const dir of read) expect(dockerfile, dir).toMatch(new RegExp(`^COPY ${dir.split('/')[0]} `, 'm'));
    const packageJson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      engines: { node: string };
    };
    expect(packageJson.engines.node).toBe('>=24');
  });

  it('gives each node its own NODE_ID', () => {
    const ids = nodes.map(([, node]) => node.environment?.['NODE_ID']);
    expect(new Set(ids).size).toBe(nodes.length);
  });

  it('load-balances across the nodes and passes WebSocket upgrades', () => {
    const volumes = services['lb']?.volumes ?? [];
    const file = volumes.map((v) => v.split(':')[0]).find((v) => v?.endsWith('.conf'));
    expect(file).toBeDefined();
    const nginx = readFileSync(path.join(root, String(file)), 'utf8');
    for (const [name] of nodes) expect(nginx).toContain(`server ${name}:3000`);
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/);
    expect(nginx).toMatch(/proxy_set_header Connection \$connection_upgrade;/);
    expect(nginx).toContain('ip_hash');
  });

  it('requires every secret (`:?`) and falls back on nothing but the public URL', () => {
    // Every value the file gives a secret variable of a node or a store's password comes
    // from the operator.
    expect(required).toEqual(
      expect.arrayContaining([
        'JWT_SECRET',
        'METRICS_TOKEN',
        'POSTGRES_PASSWORD',
        'REDIS_PASSWORD',
        'NEO4J_PASSWORD',
        'S3_ROOT_USER',
        'S3_ROOT_PASSWORD',
        'MILVUS_S3_USER',
        'MILVUS_S3_PASSWORD',
        'GRAFANA_PASSWORD',
      ]),
    );
    // `${VAR:-x}` resolved by compose and `$${VAR:-x}` resolved by a container's shell alike.
    const fallbacks = [...new Set([...text.matchAll(/\$\{([A-Z0-9_]+):?-[^}]*\}/g)].map((m) => m[1]))];
    expect(fallbacks).toEqual(['PUBLIC_URL']);
    for (const [name, service] of Object.entries(services)) {
      for (const [variable, value] of Object.entries(service.environment ?? {})) {
        const secret =
          SECRET_VARIABLES.has(variable) || /PASSWORD|SECRET|TOKEN|_AUTH$|ACCESS_KEY|ROOT_USER/.test(variable);
        if (secret) expect(String(value), `${name}.${variable}`).toMatch(/\$\{[A-Z0-9_]+:\?[^}]+\}/);
      }
    }
  });

  it('ships .env.example listing every required variable, with empty values and how to make them', () => {
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const listed = Object.fromEntries(
      [...example.matchAll(/^([A-Z0-9_]+)=(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]),
    );
    expect(Object.keys(listed).sort()).toEqual(required);
    for (const value of Object.values(listed)) expect(value).toBe('');
    expect(example).toContain('openssl rand -base64 48');
    expect(readFileSync(path.join(root, '.gitignore'), 'utf8')).toMatch(/^\.env$/m);
  });

  it('publishes no S3 port: browsers download through the load balancer, signed for its address', () => {
    for (const name of ['s3', 'milvus-s3']) expect(services[name]?.ports, name).toBeUndefined();
    const nginx = readFileSync(path.join(root, 'deploy', 'nginx.conf'), 'utf8');
    for (const [name, node] of nodes) {
      const env = node.environment ?? {};
      // Presigned URLs are signed for PUBLIC_URL's host and port, path style: /<bucket>/<key>.
      expect(resolve(env['S3_PUBLIC_ENDPOINT'] ?? ''), name).toBe(resolve(env['PUBLIC_URL'] ?? ''));
      const bucket = String(env['S3_BUCKET']);
      const location = new RegExp(`location /${bucket}/ \\{([^}]*\\{[^}]*\\}[^}]*)\\}`).exec(nginx)?.[1] ?? '';
      expect(location, name).toContain('proxy_pass http://s3:9000;');
      // The path is passed unchanged (no URI after the upstream) and Host as signed, port included.
      expect(location, name).toContain('proxy_set_header Host $http_host;');
      expect(location, name).toContain('limit_except GET HEAD { deny all; }');
    }
    expect(Object.keys(services['lb']?.depends_on ?? {})).toContain('s3');
  });

  it("trusts X-Forwarded-For from the load balancer's fixed address alone", () => {
    const subnet = compose.networks?.['default']?.ipam?.config?.[0]?.subnet;
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    const lb = services['lb']?.networks?.['default']?.ipv4_address;
    expect(lb).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    const [network, bits] = String(subnet).split('/');
    const toNumber = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
    const mask = 2 ** 32 - 2 ** (32 - Number(bits));
    expect(toNumber(String(lb)) & mask).toBe(toNumber(String(network)) & mask);
    for (const [name, node] of nodes) {
      const trusted = String(node.environment?.['TRUST_PROXY'] ?? '');
      expect(trusted, name).toBe(lb);
      expect(loadConfig({ TRUST_PROXY: trusted }).http.trustProxy, name).toEqual([lb]);
    }
  });

  it('puts /metrics behind METRICS_TOKEN, which Prometheus reads from a secret', () => {
    for (const [name, node] of nodes) {
      expect(String(node.environment?.['METRICS_TOKEN']), name).toMatch(/^\$\{METRICS_TOKEN:\?[^}]+\}$/);
    }
    const prometheus = parse(readFileSync(path.join(root, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: { authorization?: { type?: string; credentials_file?: string } }[];
    };
    for (const job of prometheus.scrape_configs) {
      expect(job.authorization?.type ?? 'Bearer').toBe('Bearer');
      const file = String(job.authorization?.credentials_file);
      const secret = /^\/run\/secrets\/([a-z_]+)$/.exec(file)?.[1];
      expect(secret, file).toBeDefined();
      expect(services['prometheus']?.secrets).toContain(secret);
      expect(compose.secrets?.[String(secret)]).toEqual({ environment: 'METRICS_TOKEN' });
    }
    // Nor does Prometheus itself answer anyone but the host.
    for (const port of services['prometheus']?.ports ?? []) expect(port).toMatch(/^127\.0\.0\.1:/);
  });

  it('runs the reference assistant against every node, with its key from a secret the operator makes', () => {
    const assistant = services['assistant'];
    expect(assistant?.build).toEqual({ context: '.', dockerfile: 'assistant/Dockerfile' });
    // Started once its key exists: the rest of the stack starts without it.
    expect(assistant?.profiles).toEqual(['assistant']);
    const env = assistant?.environment ?? {};
    const urls = String(env['VOICEHELPER_URLS']).split(',');
    expect(urls.sort()).toEqual(nodes.map(([name]) => `http://${name}:3000`).sort());
    expect(Object.keys(assistant?.depends_on ?? {}).sort()).toEqual(nodes.map(([name]) => name).sort());
    // The key: a compose secret read from ASSISTANT_API_KEY, never a value in the file.
    expect(env['VOICEHELPER_API_KEY']).toBeUndefined();
    expect(env['VOICEHELPER_API_KEY_FILE']).toBe('/run/secrets/assistant_api_key');
    expect(assistant?.secrets).toEqual(['assistant_api_key']);
    expect(compose.secrets?.['assistant_api_key']).toEqual({ environment: 'ASSISTANT_API_KEY' });
    expect(readFileSync(path.join(root, '.env.example'), 'utf8')).toMatch(/^# ASSISTANT_API_KEY=vhk_/m);
    // The nodes give it the sessions created without an agent.
    for (const [name, node] of nodes) {
      const config = loadConfig(
        Object.fromEntries(Object.entries(node.environment ?? {}).map(([k, v]) => [k, resolve(v ?? '')])),
      );
      expect(config.agents.defaultAgent, name).toBe('assistant');
      expect(config.assistant, name).toEqual({ mode: 'off' });
    }
    // The image: Python 3.11 with espeak-ng from Debian, the exact pins, the key from the file.
    const dockerfile = readFileSync(path.join(root, 'assistant', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^FROM python:3\.11-slim$/m);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends espeak-ng/);
    expect(dockerfile).toContain(
      'pip install --no-cache-dir --disable-pip-version-check -r assistant/requirements-runtime.txt',
    );
    for (const copied of ['sdk/python', 'assistant']) expect(dockerfile).toMatch(new RegExp(`^COPY ${copied} `, 'm'));
    const entrypoint = /^ENTRYPOINT \["([^"]+)"\]$/m.exec(dockerfile)?.[1];
    expect(entrypoint).toBe('/app/assistant/entrypoint.sh');
    const script = readFileSync(path.join(root, 'assistant', 'entrypoint.sh'), 'utf8');
    expect(script).toContain('VOICEHELPER_API_KEY=$(cat "$VOICEHELPER_API_KEY_FILE")');
    expect(script).toContain('exec python -m voicehelper_assistant "$@"');
  });
});
