import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Parser } from '@asyncapi/parser';
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushSchemas } from '../../protocol/events.js';
import { payloadSchemas } from '../../protocol/schemas.js';
import { packageRoot } from '../../src/util/package-root.js';
import { TestCluster } from '../helpers/cluster.js';

interface Operation {
  tags?: string[];
  summary?: string;
  security?: unknown[];
  parameters?: { in: string; name: string; required?: boolean }[];
  requestBody?: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> };
  responses: Record<string, unknown>;
}
type OpenApi = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

/** Every HTTP route of docs/protocol.md (section 7 and the versions after it) but the object route of the embedded store. */
const ROUTES = [
  'post /v1/auth/register',
  'post /v1/auth/login',
  'post /v1/auth/refresh',
  'post /v1/auth/token',
  'post /v1/auth/logout',
  'put /v1/users/me/password',
  'delete /v1/users/me',
  'post /v1/sessions',
  'get /v1/sessions/{id}',
  'get /v1/sessions/{id}/messages',
  'get /v1/sessions/{id}/turns',
  'delete /v1/sessions/{id}',
  'post /v1/documents',
  'get /v1/documents',
  'get /v1/documents/{id}',
  'get /v1/documents/{id}/content',
  'get /v1/documents/{id}/entities',
  'delete /v1/documents/{id}',
  'get /v1/graph/entities',
  'post /v1/graph/entities',
  'get /v1/graph/entities/{id}',
  'delete /v1/graph/entities/{id}',
  'get /v1/graph/entities/{id}/related',
  'get /v1/graph/entities/{id}/neighbors',
  'get /v1/graph/path',
  'post /v1/graph/relations',
  'delete /v1/graph/relations/{id}',
  'post /v1/graph/algorithms/{name}',
  'get /v1/admin/configs/{key}',
  'put /v1/admin/configs/{key}',
  'put /v1/admin/users/{id}/roles',
  'put /v1/admin/users/{id}/status',
  'get /v1/admin/users',
  'get /v1/admin/cluster',
  'get /v1/admin/keys',
  'post /v1/admin/users/{id}/keys',
  'delete /v1/admin/keys/{id}',
  'get /v1/admin/audit-logs',
  'get /v1/admin/readiness',
  'get /healthz',
  'get /readyz',
  'get /metrics',
];

describe('API documentation served by a node', () => {
  let cluster: TestCluster;
  let openapi: OpenApi;

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
    const response = await fetch(`${cluster.urls[0]}/docs/json`);
    expect(response.status).toBe(200);
    openapi = (await response.json()) as OpenApi;
  });
  afterAll(() => cluster?.stop());

  it('serves a valid OpenAPI 3.1 document with every route, its parameters, bodies, security and error shape', async () => {
    const result = await new Validator().validate(openapi as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(openapi.openapi).toBe('3.1.0');

    const documented = Object.entries(openapi.paths).flatMap(([route, methods]) =>
      Object.keys(methods).map((method) => `${method} ${route}`),
    );
    expect(documented.sort()).toEqual([...ROUTES].sort());
    for (const [route, methods] of Object.entries(openapi.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const label = `${method} ${route}`;
        expect(operation.summary, label).toBeTruthy();
        // Every path parameter is declared.
        for (const [, name] of route.matchAll(/\{(\w+)\}/g)) {
          expect(
            operation.parameters?.some((p) => p.in === 'path' && p.name === name),
            `${label} declares ${name}`,
          ).toBe(true);
        }
        if (route.startsWith('/v1/') && !route.startsWith('/v1/auth/')) {
          expect(operation.security, `${label} needs a bearer token`).toEqual([{ bearerAuth: [] }]);
        }
        if (route.startsWith('/v1/'))
          expect(Object.keys(operation.responses), label).toEqual(expect.arrayContaining(['4XX', '5XX']));
      }
    }
    // Bodies come from the schemas that validate them.
    const register = openapi.paths['/v1/auth/register']?.['post']?.requestBody?.content['application/json']?.schema;
    expect(Object.keys(register?.properties ?? {}).sort()).toEqual(['email', 'password', 'username']);
    expect(openapi.paths['/v1/documents']?.['get']?.parameters?.map((p) => p.name).sort()).toEqual(['cursor', 'limit']);
    expect(Object.keys(openapi.components.schemas)).toEqual(
      expect.arrayContaining(['Message', 'PublicUser', 'AuthResponse', 'Document', 'ErrorResponse']),
    );
  });

  it('serves the browsable UI at /docs under a Content-Security-Policy', async () => {
    const page = await fetch(`${cluster.urls[0]}/docs/static/index.html`);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('swagger');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect((await fetch(`${cluster.urls[0]}/docs`, { redirect: 'manual' })).status).toBeLessThan(400);
  });

  it('serves the committed AsyncAPI document, which the AsyncAPI parser accepts and which lists every event', async () => {
    const committed = readFileSync(path.join(packageRoot(), 'protocol', 'asyncapi.json'), 'utf8');
    const served = await (await fetch(`${cluster.urls[0]}/asyncapi.json`)).text();
    expect(served).toBe(committed);

    const { document, diagnostics } = await new Parser().parse(served);
    // Severity 0 is an error (1 a warning, 2 information, 3 a hint).
    expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    const names = document!
      .messages()
      .all()
      .map((m) => m.name());
    for (const event of Object.keys(payloadSchemas)) {
      expect(names).toContain(event);
      expect(names).toContain(`${event} ack`);
    }
    for (const event of Object.keys(pushSchemas)) expect(names).toContain(event);
    const join = document!
      .operations()
      .all()
      .find((o) => o.id() === 'receive.session.join');
    expect(join?.action()).toBe('receive');
    expect(join?.reply()?.messages().all()[0]?.name()).toBe('session:join ack');
  });

  it('validates requests through the route schemas: the caller first, then the body, with the failing fields named', async () => {
    const url = cluster.urls[0] as string;
    // Anonymous and invalid: UNAUTHORIZED (the caller is checked before the body is read).
    const anonymous = await fetch(`${url}/v1/graph/entities`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"nope":1}',
    });
    expect(anonymous.status).toBe(401);
    const alice = await cluster.user();
    const headers = { authorization: `Bearer ${alice.token}`, 'content-type': 'application/json' };
    const invalid = await fetch(`${url}/v1/graph/entities`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ name: 'A', type: 'x', extra: 1 }),
    });
    expect(invalid.status).toBe(400);
    const body = (await invalid.json()) as { error: { code: string; details: { issues: { path: string }[] } } };
    expect(body.error.code).toBe('VALIDATION');
    expect(body.error.details.issues.length).toBeGreaterThan(0);
    const badQuery = await fetch(`${url}/v1/documents?limit=1000`, { headers });
    expect(badQuery.status).toBe(400);
    expect(
      ((await badQuery.json()) as { error: { details: { issues: { path: string }[] } } }).error.details.issues[0]?.path,
    ).toBe('limit');
    const badParam = await fetch(`${url}/v1/documents/not-a-uuid`, { headers });
    expect(badParam.status).toBe(400);
    // A user is not an admin.
    expect((await fetch(`${url}/v1/admin/users`, { headers })).status).toBe(403);
  });
});
