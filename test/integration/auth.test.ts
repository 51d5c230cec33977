import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app.js';
import { openClient, request } from '../helpers/client.js';
import { testPool } from '../helpers/database.js';
import { clusterConfig } from '../helpers/env.js';

describe('auth over HTTP (real PostgreSQL)', () => {
  let app: App;
  let baseUrl: string;
  const sql = testPool();

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, any> };
  };
  const email = () => `user-${randomUUID()}@Example.test`;

  beforeAll(async () => {
    app = await buildApp(clusterConfig());
    const { port } = await app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await app?.close();
    await sql.end();
  });

  it('registers a user, stores only an Argon2id hash, and returns a token that opens a socket', async () => {
    const address = email();
    const registered = await post('/v1/auth/register', {
      email: address,
      username: '小明',
      password: 'correct horse battery',
    });
    expect(registered.status).toBe(201);
    expect(registered.body['user']).toMatchObject({ email: address.toLowerCase(), username: '小明', roles: ['user'] });
    expect(registered.body['user']).not.toHaveProperty('passwordHash');
    expect(registered.body['expiresIn']).toBe(900);
    const stored = await sql.query('select password_hash from users where id = $1', [registered.body['user'].id]);
    expect(stored.rows[0].password_hash).toMatch(/^\$argon2id\$/);
    expect(stored.rows[0].password_hash).not.toContain('correct horse');

    const socket = await openClient(baseUrl, { token: registered.body['accessToken'] });
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });
    socket.close();
  });

  it('refuses a second registration of the same email, in any case, with 409 CONFLICT', async () => {
    const address = email();
    expect((await post('/v1/auth/register', { email: address, username: 'a', password: 'password-1' })).status).toBe(
      201,
    );
    const again = await post('/v1/auth/register', {
      email: address.toUpperCase(),
      username: 'b',
      password: 'password-2',
    });
    expect(again).toMatchObject({ status: 409, body: { error: { code: 'CONFLICT' } } });
  });

  it('logs in with the right password and audits it', async () => {
    const address = email();
    const registered = await post('/v1/auth/register', { email: address, username: 'u', password: 'the-password' });
    const login = await post(
      '/v1/auth/login',
      { email: address, password: 'the-password' },
      { 'user-agent': 'vitest-agent' },
    );
    expect(login.status).toBe(200);
    expect(login.body['user'].id).toBe(registered.body['user'].id);
    const claims = await app.tokens.verify(login.body['accessToken']);
    expect(claims).toEqual({
      userId: registered.body['user'].id,
      role: 'user',
      family: expect.stringMatching(/^[0-9a-f-]{36}$/),
      expiresAt: expect.any(Number),
    });
    const audit = await app.stores.db.audit.query({ userId: registered.body['user'].id });
    expect(audit.entries.map((e) => e.action)).toEqual(['auth.login', 'auth.register']);
    expect(audit.entries[0]).toMatchObject({ ip: '127.0.0.1', userAgent: 'vitest-agent' });
  });

  it('gives the same 401 INVALID_CREDENTIALS for a wrong password and an unknown email', async () => {
    const address = email();
    await post('/v1/auth/register', { email: address, username: 'u', password: 'the-password' });
    const wrong = await post('/v1/auth/login', { email: address, password: 'not-the-password' });
    const unknown = await post('/v1/auth/login', { email: email(), password: 'whatever-it-is' });
    for (const failure of [wrong, unknown]) {
      expect(failure).toEqual({
        status: 401,
        body: { error: { code: 'INVALID_CREDENTIALS', message: 'wrong email or password' } },
      });
    }
    const audit = await app.stores.db.audit.query({ action: 'auth.login_failed', limit: 200 });
    expect(audit.entries.some((e) => e.details['reason'] === 'unknown_email')).toBe(true);
  });

  it('carries the strongest role from user_roles into the token', async () => {
    const address = email();
    const registered = await post('/v1/auth/register', {
      email: address,
      username: 'worker',
      password: 'worker-password',
    });
    await app.stores.db.users.setRoles(registered.body['user'].id, ['service'], null);
    const login = await post('/v1/auth/login', { email: address, password: 'worker-password' });
    expect((await app.tokens.verify(login.body['accessToken'])).role).toBe('service');
  });

  describe('refresh tokens', () => {
    const fresh = async () => {
      const registered = await post('/v1/auth/register', {
        email: email(),
        username: 'r',
        password: 'refresh-password',
      });
      expect(typeof registered.body['refreshToken']).toBe('string');
      return registered.body;
    };

    it('exchanges a refresh token once for a new pair with the current roles', async () => {
      const start = await fresh();
      await app.stores.db.users.setRoles(start['user'].id, ['admin'], null);
      const refreshed = await post('/v1/auth/refresh', { refreshToken: start['refreshToken'] });
      expect(refreshed.status).toBe(200);
      expect(refreshed.body['refreshToken']).not.toBe(start['refreshToken']);
      expect((await app.tokens.verify(refreshed.body['accessToken'])).role).toBe('admin');
      const again = await post('/v1/auth/refresh', { refreshToken: refreshed.body['refreshToken'] });
      expect(again.status).toBe(200);
    });

    it('treats reuse of a used token as theft: refuses it and revokes the whole family', async () => {
      const start = await fresh();
      const next = await post('/v1/auth/refresh', { refreshToken: start['refreshToken'] });
      const replay = await post('/v1/auth/refresh', { refreshToken: start['refreshToken'] });
      expect(replay).toMatchObject({ status: 401, body: { error: { code: 'UNAUTHORIZED' } } });
      expect((await post('/v1/auth/refresh', { refreshToken: next.body['refreshToken'] })).status).toBe(401);
    });

    it('lets exactly one of two concurrent refreshes of the same token through', async () => {
      const start = await fresh();
      const results = await Promise.all(
        [1, 2].map(() => post('/v1/auth/refresh', { refreshToken: start['refreshToken'] })),
      );
      expect(results.map((r) => r.status).sort()).toEqual([200, 401]);
    });

    it('refuses forged, malformed and expired tokens, and tokens after logout', async () => {
      const start = await fresh();
      const [id] = String(start['refreshToken']).split('.');
      for (const bad of [`${id}.${'A'.repeat(43)}`, 'garbage', `${randomUUID()}.${'B'.repeat(43)}`]) {
        expect((await post('/v1/auth/refresh', { refreshToken: bad })).status).toBe(401);
      }
      const other = await fresh();
      await sql.query("update refresh_tokens set expires_at = now() - interval '1 second' where user_id = $1", [
        other['user'].id,
      ]);
      expect((await post('/v1/auth/refresh', { refreshToken: other['refreshToken'] })).status).toBe(401);

      const third = await fresh();
      expect((await post('/v1/auth/logout', { refreshToken: third['refreshToken'] })).status).toBe(204);
      expect((await post('/v1/auth/refresh', { refreshToken: third['refreshToken'] })).status).toBe(401);
      const audit = await app.stores.db.audit.query({ userId: third['user'].id });
      expect(audit.entries.map((e) => e.action)).toContain('auth.logout');
    });

    it('keeps only a hash of each refresh token', async () => {
      const start = await fresh();
      const rows = await sql.query('select token_hash from refresh_tokens where user_id = $1', [start['user'].id]);
      const secret = String(start['refreshToken']).split('.')[1] as string;
      expect(rows.rows[0].token_hash.toString('base64url')).not.toBe(secret);
      expect(JSON.stringify(rows.rows)).not.toContain(secret);
    });
  });

  it.each([
    ['a missing password', { email: 'a@example.test', username: 'u' }, 'password'],
    ['a short password', { email: 'a@example.test', username: 'u', password: 'short' }, 'password'],
    ['a bad email', { email: 'not-an-email', username: 'u', password: 'long enough' }, 'email'],
    [
      'a control character in the username',
      { email: 'a@example.test', username: 'a\u0007b', password: 'long enough' },
      'username',
    ],
    ['an unknown field', { email: 'a@example.test', username: 'u', password: 'long enough', admin: true }, ''],
    ['a 300-character password', { email: 'a@example.test', username: 'u', password: 'p'.repeat(300) }, 'password'],
  ])('answers %s with 400 VALIDATION naming the field', async (_label, body, field) => {
    const response = await post('/v1/auth/register', body);
    expect(response.status).toBe(400);
    expect(response.body['error'].code).toBe('VALIDATION');
    expect(response.body['error'].details.issues.map((i: { path: string }) => i.path)).toContain(field);
  });

  it('answers malformed JSON and prototype pollution attempts with 400, and stays up', async () => {
    expect((await post('/v1/auth/login', '{"email": ')).status).toBe(400);
    expect(
      (await post('/v1/auth/login', '{"__proto__": {"admin": true}, "email": "a@b.test", "password": "x"}')).status,
    ).toBe(400);
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
    expect((await fetch(`${baseUrl}/healthz`)).status).toBe(200);
  });
});
