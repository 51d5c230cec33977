import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';

describe('admin endpoints', () => {
  let cluster: TestCluster;
  let admin: { id: string; token: string };
  let user: { id: string; token: string };

  const call = async (method: string, path: string, token: string | undefined, body?: unknown) => {
    const response = await fetch(`${cluster.urls[0]}${path}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, any> };
  };

  beforeAll(async () => {
    cluster = await TestCluster.start(1);
    admin = await cluster.user('admin');
    user = await cluster.user();
  });
  afterAll(() => cluster?.stop());

  it('refuses everyone but admins: 401 without a token, 403 for users and services', async () => {
    const service = await cluster.user('service');
    for (const [method, path] of [
      ['GET', '/v1/admin/configs/rate_limits'],
      ['PUT', '/v1/admin/configs/rate_limits'],
      ['PUT', `/v1/admin/users/${user.id}/roles`],
      ['GET', '/v1/admin/audit-logs'],
    ] as const) {
      expect((await call(method, path, undefined, method === 'PUT' ? {} : undefined)).status).toBe(401);
      expect((await call(method, path, user.token, method === 'PUT' ? {} : undefined)).status).toBe(403);
      expect((await call(method, path, service.token, method === 'PUT' ? {} : undefined)).status).toBe(403);
    }
  });

  it('validates config values by key, stores them and audits the change', async () => {
    expect((await call('PUT', '/v1/admin/configs/no_such_key', admin.token, { value: 1 })).status).toBe(404);
    const bad = await call('PUT', '/v1/admin/configs/rate_limits', admin.token, {
      value: { 'message:send': { limit: 0, windowMs: 10 } },
    });
    expect(bad).toMatchObject({ status: 400, body: { error: { code: 'VALIDATION' } } });
    expect((await call('PUT', '/v1/admin/configs/rate_limits', admin.token, { value: { unknown: {} } })).status).toBe(
      400,
    );
    const value = { 'message:send': { limit: 1_000_000, windowMs: 1_000 } };
    expect(
      await call('PUT', '/v1/admin/configs/rate_limits', admin.token, { value, description: 'lifted' }),
    ).toMatchObject({
      status: 200,
      body: { config: { key: 'rate_limits', value, description: 'lifted', updatedBy: admin.id } },
    });
    expect((await call('GET', '/v1/admin/configs/rate_limits', admin.token)).body['config'].value).toEqual(value);
    const audit = await call('GET', `/v1/admin/audit-logs?userId=${admin.id}&action=config.update`, admin.token);
    expect(audit.body['entries'][0]).toMatchObject({
      action: 'config.update',
      resourceId: 'rate_limits',
      details: { value },
    });
    await call('PUT', '/v1/admin/configs/rate_limits', admin.token, { value: {} });
  });

  it('changes roles (the user cache follows), refuses unknown users and roles, and audits', async () => {
    const target = await cluster.user();
    const changed = await call('PUT', `/v1/admin/users/${target.id}/roles`, admin.token, { roles: ['service'] });
    expect(changed).toMatchObject({ status: 200, body: { userId: target.id, roles: ['service', 'user'] } });
    expect((await cluster.nodes[0]?.users.get(target.id))?.roles).toEqual(['service', 'user']);
    expect((await call('PUT', `/v1/admin/users/${randomUUID()}/roles`, admin.token, { roles: [] })).status).toBe(404);
    expect((await call('PUT', `/v1/admin/users/${target.id}/roles`, admin.token, { roles: ['root'] })).status).toBe(
      400,
    );
    expect((await call('PUT', '/v1/admin/users/not-a-uuid/roles', admin.token, { roles: [] })).status).toBe(400);
    const audit = await call(
      'GET',
      `/v1/admin/audit-logs?action=user.roles&from=${new Date(Date.now() - 60_000).toISOString()}`,
      admin.token,
    );
    expect(audit.body['entries'].some((e: { resourceId: string }) => e.resourceId === target.id)).toBe(true);
  });

  it('pages audit logs with a cursor and refuses bad filters', async () => {
    for (let i = 0; i < 3; i++)
      await cluster.nodes[0]?.stores.db.audit.record(
        { userId: user.id },
        { action: 'test.page', resourceType: 'test', resourceId: String(i) },
      );
    const first = await call('GET', `/v1/admin/audit-logs?userId=${user.id}&action=test.page&limit=2`, admin.token);
    expect(first.body['entries'].map((e: { resourceId: string }) => e.resourceId)).toEqual(['2', '1']);
    const second = await call(
      'GET',
      `/v1/admin/audit-logs?userId=${user.id}&action=test.page&limit=2&cursor=${first.body['nextCursor']}`,
      admin.token,
    );
    expect(second.body['entries'].map((e: { resourceId: string }) => e.resourceId)).toEqual(['0']);
    expect((await call('GET', '/v1/admin/audit-logs?from=yesterday', admin.token)).status).toBe(400);
    expect((await call('GET', '/v1/admin/audit-logs?cursor=bogus', admin.token)).status).toBe(400);
  });

  it('a disabled user cannot connect once the cache entry is dropped', async () => {
    const target = await cluster.user();
    (await openClient(cluster.urls[0] as string, { token: target.token })).close();
    const { version } = (await cluster.nodes[0]?.stores.db.users.setStatus(target.id, 'disabled')) ?? { version: 0 };
    cluster.nodes[0]?.users.changed(target.id, version);
    const refused = (await openClient(cluster.urls[0] as string, { token: target.token }).catch(
      (e: unknown) => e,
    )) as Error & { data?: { code?: string } };
    expect(refused.data?.code).toBe('UNAUTHORIZED');
  });
});
