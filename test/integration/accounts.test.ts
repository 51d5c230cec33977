import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { Erasure } from '../../src/services/erasure.js';
import { runCli } from '../helpers/cli.js';
import { nextEvent, openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually, TestCluster } from '../helpers/cluster.js';
import { clusterEnv, uniqueName } from '../helpers/env.js';
import { call, documentForm } from '../helpers/http.js';

/**
 * Operators' account commands (`voicehelper users|keys`), service-account credentials,
 * password change, session deletion and forgetting a user, on two nodes over the real
 * services, with the CLI run as its own process.
 */
// Each CLI call is a cold Node process (about 5 s with its connections); tests make up to ten.
describe('accounts and the operators CLI', { timeout: 90_000 }, () => {
  let cluster: TestCluster;
  let env: Record<string, string>;
  let url: string;
  let other: string;
  const sockets: TestSocket[] = [];

  const cli = (args: string[], stdin = '') => runCli(args, env, stdin);
  const email = (tag: string) => `${tag}-${randomUUID().slice(0, 8)}@example.test`;
  const register = async (address = email('u'), password = 'correct horse 1') => {
    const response = await call(url, 'POST', '/v1/auth/register', {
      body: { email: address, username: 'someone', password },
    });
    expect(response.status).toBe(201);
    return {
      id: response.body['user'].id as string,
      token: response.body['accessToken'] as string,
      refreshToken: response.body['refreshToken'] as string,
      email: address,
      password,
    };
  };
  const connect = async (index: number, token: string) => {
    const socket = await openClient(cluster.urls[index] as string, { token });
    sockets.push(socket);
    return socket;
  };
  const node = () => cluster.nodes[0] as App;

  beforeAll(async () => {
    env = clusterEnv({ MILVUS_COLLECTION: uniqueName('chunks'), INGEST_QUEUE: uniqueName('ingest') });
    const { NODE_ID: _node, DATA_DIR: _dir, ...shared } = env;
    cluster = await TestCluster.start(2, shared);
    [url, other] = cluster.urls as [string, string];
  });
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await cluster?.stop();
  });

  it('creates accounts with a role from stdin (never argv), refuses duplicates and bad input with distinct exit codes', async () => {
    const address = email('admin');
    const created = await cli(
      ['users', 'create', '--email', address, '--role', 'admin', '--json'],
      'a long password\n',
    );
    expect(created).toMatchObject({ code: 0 });
    expect(JSON.parse(created.stdout)).toMatchObject({ email: address, roles: ['admin', 'user'], status: 'active' });
    const login = await call(url, 'POST', '/v1/auth/login', { body: { email: address, password: 'a long password' } });
    expect(login).toMatchObject({ status: 200, body: { user: { roles: ['admin', 'user'] } } });

    // Each refusal is a process of its own and none depends on another: they run together.
    const [duplicate, short, empty, unknownRole, argv, nobody] = await Promise.all([
      cli(['users', 'create', '--email', address.toUpperCase()], 'another password\n'),
      cli(['users', 'create', '--email', email('x')], 'short\n'),
      cli(['users', 'create', '--email', email('x')], ''),
      cli(['users', 'create', '--email', email('x'), '--role', 'root'], 'a long password\n'),
      cli(['users', 'create', '--email', email('x'), '--password', 'in argv'], ''),
      cli(['users', 'roles', 'nobody@example.test', 'admin']),
    ]);
    expect(duplicate.code).toBe(4);
    expect(short.code).toBe(2);
    expect(empty.code).toBe(2);
    expect(unknownRole.code).toBe(2);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toContain("unknown option '--password'");
    expect(nobody.code).toBe(3);
  });

  it('lists users for admins over HTTP with search and a cursor, and from the CLI', async () => {
    const admin = await cluster.user('admin');
    const marker = randomUUID().slice(0, 8);
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await register(`${marker}-${i}@example.test`));
    const first = await call(url, 'GET', `/v1/admin/users?search=${marker}&limit=2`, { token: admin.token });
    expect(first.status).toBe(200);
    expect(first.body['users'].map((u: { email: string }) => u.email)).toEqual([
      `${marker}-2@example.test`,
      `${marker}-1@example.test`,
    ]);
    expect(first.body['users'][0]).not.toHaveProperty('passwordHash');
    const second = await call(
      url,
      'GET',
      `/v1/admin/users?search=${marker}&limit=2&cursor=${first.body['nextCursor']}`,
      { token: admin.token },
    );
    expect(second.body).toMatchObject({
      users: [{ email: `${marker}-0@example.test`, status: 'active' }],
      nextCursor: null,
    });
    // LIKE wildcards in the search are plain characters.
    expect((await call(url, 'GET', '/v1/admin/users?search=%25', { token: admin.token })).body['users']).toEqual([]);
    expect((await call(url, 'GET', '/v1/admin/users', { token: made[0]?.token as string })).status).toBe(403);
    expect((await call(url, 'GET', '/v1/admin/users?cursor=bogus', { token: admin.token })).status).toBe(400);

    const listed = await cli(['users', 'list', '--search', marker, '--json']);
    expect(listed.code).toBe(0);
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).email),
    ).toHaveLength(3);
  });

  it('disables an account from the CLI: its login and its sockets on every node end; enabling lets it back in', async () => {
    const user = await register();
    const socket = await connect(1, user.token);
    const ended = nextEvent<{ reason: string }>(socket, 'sys:disconnect');
    expect(await cli(['users', 'disable', user.email])).toMatchObject({ code: 0 });
    expect(await ended).toMatchObject({ reason: 'disabled' });
    await eventually(async () =>
      expect((await call(other, 'GET', '/v1/documents', { token: user.token })).status).toBe(401),
    );
    expect(
      (await call(url, 'POST', '/v1/auth/login', { body: { email: user.email, password: user.password } })).status,
    ).toBe(401);
    expect((await call(url, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } })).status).toBe(
      401,
    );
    expect(await cli(['users', 'enable', user.id])).toMatchObject({ code: 0 });
    expect(
      (await call(url, 'POST', '/v1/auth/login', { body: { email: user.email, password: user.password } })).status,
    ).toBe(200);

    expect(await cli(['users', 'roles', user.email, 'service'])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('service,user'),
    });
  });

  it('gives service accounts API keys: exchanged for tokens, revoked from the CLI with their sockets on every node', async () => {
    const address = email('svc');
    expect((await cli(['users', 'create', '--email', address, '--role', 'service'], 'a long password\n')).code).toBe(0);
    const created = await cli(['keys', 'create', '--user', address, '--name', 'asr-worker-1']);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^vhk_[0-9a-f-]{36}\.[A-Za-z0-9_-]{43}$/);

    const exchanged = await call(url, 'POST', '/v1/auth/token', { body: { apiKey: key } });
    expect(exchanged).toMatchObject({
      status: 200,
      body: { user: { email: address, roles: ['service', 'user'] }, expiresIn: 900 },
    });
    expect(exchanged.body).not.toHaveProperty('refreshToken');
    const token = exchanged.body['accessToken'] as string;
    const socket = await connect(1, token);
    expect(await request(socket, 'sys:ping')).toMatchObject({ ok: true });

    const listed = await cli(['keys', 'list', '--user', address, '--json']);
    const record = JSON.parse(listed.stdout.trim()) as {
      id: string;
      name: string;
      lastUsedAt: string | null;
      revokedAt: string | null;
    };
    expect(record).toMatchObject({ name: 'asr-worker-1', revokedAt: null });
    expect(record.lastUsedAt).not.toBeNull();
    expect(listed.stdout).not.toContain(key.split('.')[1]);

    const ended = nextEvent<{ reason: string }>(socket, 'sys:disconnect');
    expect(await cli(['keys', 'revoke', record.id])).toMatchObject({ code: 0 });
    expect(await ended).toMatchObject({ reason: 'logged_out' });
    await eventually(async () => expect((await call(other, 'GET', '/v1/documents', { token })).status).toBe(401));
    expect((await call(url, 'POST', '/v1/auth/token', { body: { apiKey: key } })).status).toBe(401);
    expect((await call(url, 'POST', '/v1/auth/token', { body: { apiKey: `${key.slice(0, -2)}xx` } })).status).toBe(401);
    expect((await call(url, 'POST', '/v1/auth/token', { body: { apiKey: 42 } })).status).toBe(400);
    expect((await cli(['keys', 'revoke', randomUUID()])).code).toBe(3);
    // Keys are for service accounts only.
    const plain = await register();
    expect((await cli(['keys', 'create', '--user', plain.email, '--name', 'x'])).code).toBe(2);
  });

  it('changes a password: the current one is required, every earlier login ends, the new one works', async () => {
    const user = await register();
    const wrong = await call(url, 'PUT', '/v1/users/me/password', {
      token: user.token,
      body: { currentPassword: 'nope', newPassword: 'a new password 2' },
    });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'INVALID_CREDENTIALS' } } });
    expect(
      (
        await call(url, 'PUT', '/v1/users/me/password', {
          token: user.token,
          body: { currentPassword: user.password, newPassword: 'short' },
        })
      ).status,
    ).toBe(400);
    const changed = await call(url, 'PUT', '/v1/users/me/password', {
      token: user.token,
      body: { currentPassword: user.password, newPassword: 'a new password 2' },
    });
    expect(changed.status).toBe(200);
    expect(changed.body['refreshToken']).toEqual(expect.any(String));
    expect((await call(url, 'POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } })).status).toBe(
      401,
    );
    expect(
      (await call(url, 'POST', '/v1/auth/login', { body: { email: user.email, password: user.password } })).status,
    ).toBe(401);
    expect(
      (await call(url, 'POST', '/v1/auth/login', { body: { email: user.email, password: 'a new password 2' } })).status,
    ).toBe(200);
  });

  /** A session of `user` with two messages and one audio message (an object in S3). */
  const sessionWithAudio = async (socket: TestSocket) => {
    const sessionId = await cluster.session(socket);
    for (const text of ['one', 'two'])
      expect(
        await request(socket, 'message:send', { sessionId, clientMsgId: randomUUID(), content: text }),
      ).toMatchObject({ ok: true });
    await request(socket, 'audio:start', { sessionId, streamId: 'mic', mimeType: 'audio/webm' });
    await request(socket, 'audio:chunk', { streamId: 'mic', index: 0, data: randomBytes(2048) });
    expect(await request(socket, 'audio:end', { streamId: 'mic', clientMsgId: randomUUID() })).toMatchObject({
      ok: true,
    });
    return sessionId;
  };

  it('deletes a session (event and HTTP) with its messages and audio; members on every node are told; only owners and admins may', async () => {
    const owner = await register();
    const stranger = await register();
    const service = await cluster.user('service');
    const socket = await connect(0, owner.token);
    const sessionId = await sessionWithAudio(socket);
    expect((await node().stores.objects.list(`audio/${sessionId}/`)).length).toBe(1);
    const watcher = await connect(1, service.token);
    expect(await request(watcher, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const told = collect<{ sessionId: string }>(watcher, 'session:deleted');

    expect(await request(watcher, 'session:delete', { sessionId })).toMatchObject({
      ok: false,
      error: { code: 'FORBIDDEN' },
    });
    expect((await call(url, 'DELETE', `/v1/sessions/${sessionId}`, { token: stranger.token })).status).toBe(403);
    expect(await request(socket, 'session:delete', { sessionId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION' },
    });
    expect(await request(socket, 'session:delete', { sessionId })).toEqual({
      ok: true,
      data: { sessionId, messages: 3, audioObjects: 1 },
    });
    await eventually(() => expect(told).toEqual([{ sessionId }]));
    expect(await node().stores.objects.list(`audio/${sessionId}/`)).toEqual([]);
    expect((await cluster.sql().query('select 1 from messages where session_id = $1', [sessionId])).rowCount).toBe(0);
    expect(await request(socket, 'session:join', { sessionId })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect(await request(watcher, 'session:join', { sessionId })).toMatchObject({
      ok: false,
      error: { code: 'NOT_FOUND' },
    });
    expect((await call(other, 'DELETE', `/v1/sessions/${sessionId}`, { token: owner.token })).status).toBe(404);

    const second = await sessionWithAudio(socket);
    expect(await call(other, 'DELETE', `/v1/sessions/${second}`, { token: owner.token })).toMatchObject({
      status: 200,
      body: { sessionId: second, messages: 3, audioObjects: 1 },
    });
    const audit = await node().stores.db.audit.query({ userId: owner.id, action: 'session.delete' });
    expect(audit.entries.map((e) => e.resourceId).sort()).toEqual([sessionId, second].sort());
  });

  /** A user who owns one of everything: a ready document (file, chunks, vectors, graph), a hand-made entity, a session with audio. */
  const populated = async () => {
    const user = await register();
    const upload = await call(url, 'POST', '/v1/documents', {
      token: user.token,
      form: documentForm('Ada Lovelace worked with Charles Babbage on the Analytical Engine in London.', 'notes.txt'),
    });
    expect(upload.status).toBe(202);
    const documentId = upload.body['document'].id as string;
    await eventually(
      async () =>
        expect(
          (await call(url, 'GET', `/v1/documents/${documentId}`, { token: user.token })).body['document'].status,
        ).toBe('ready'),
      30_000,
    );
    const entity = await call(url, 'POST', '/v1/graph/entities', {
      token: user.token,
      body: { name: 'Hand Made', type: 'concept' },
    });
    expect(entity.status).toBe(201);
    const socket = await connect(1, user.token);
    const sessionId = await sessionWithAudio(socket);
    return { user, documentId, sessionId, entityId: entity.body['entity'].id as string, socket };
  };

  /** Everything of a user that any store still holds. */
  const remains = async (userId: string, documentId: string, sessionId: string) => {
    const { stores } = node();
    const rows = async (sql: string, value: string) => (await cluster.sql().query(sql, [value])).rowCount ?? 0;
    return {
      users: await rows('select 1 from users where id = $1', userId),
      roles: await rows('select 1 from user_roles where user_id = $1', userId),
      refreshTokens: await rows('select 1 from refresh_tokens where user_id = $1', userId),
      apiKeys: await rows('select 1 from api_keys where user_id = $1', userId),
      sessions: await rows('select 1 from sessions where user_id = $1', userId),
      messages: await rows('select 1 from messages where session_id = $1', sessionId),
      documents: await rows('select 1 from documents where user_id = $1', userId),
      chunks: await rows('select 1 from document_chunks where document_id = $1', documentId),
      auditWithAddress: await rows(
        'select 1 from audit_logs where user_id = $1 and (ip_address is not null or user_agent is not null)',
        userId,
      ),
      objects:
        (await stores.objects.list(`documents/${userId}/`)).length +
        (await stores.objects.list(`audio/${sessionId}/`)).length,
      vectors: await stores.vectors.countByDocument(documentId),
      graphEntities: (await stores.graph.project(userId)).nodes.length,
      graphDocumentEntities: (await stores.graph.documentEntities(documentId, 10)).length,
    };
  };
  const nothing = {
    users: 0,
    roles: 0,
    refreshTokens: 0,
    apiKeys: 0,
    sessions: 0,
    messages: 0,
    documents: 0,
    chunks: 0,
    auditWithAddress: 0,
    objects: 0,
    vectors: 0,
    graphEntities: 0,
    graphDocumentEntities: 0,
  };

  it('forgets a user from all five stores from the CLI, audited and idempotent; their sockets end', async () => {
    const { user, documentId, sessionId, socket } = await populated();
    const before = await remains(user.id, documentId, sessionId);
    expect(before).toMatchObject({ users: 1, sessions: 1, messages: 3, documents: 1, objects: 2, vectors: 1 });
    expect(before.chunks).toBeGreaterThan(0);
    expect(before.graphEntities).toBeGreaterThan(1);

    const ended = nextEvent<{ reason: string }>(socket, 'sys:disconnect');
    const run = await cli(['users', 'forget', user.email, '--json']);
    expect(run.code).toBe(0);
    const erasure = JSON.parse(run.stdout) as { finishedAt: string; steps: Record<string, Record<string, number>> };
    expect(erasure.steps).toMatchObject({
      documents: { documents: 1 },
      sessions: { sessions: 1, messages: 3, audioObjects: 1 },
      account: { accounts: 1 },
    });
    expect(await ended).toMatchObject({ reason: 'disabled' });
    expect(await remains(user.id, documentId, sessionId)).toEqual(nothing);
    await eventually(async () =>
      expect((await call(other, 'GET', '/v1/documents', { token: user.token })).status).toBe(401),
    );

    const again = await cli(['users', 'forget', user.id, '--json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(erasure);
    const audit = await node().stores.db.audit.query({ action: 'user.forget' });
    expect(audit.entries.filter((e) => e.resourceId === user.id)).toHaveLength(1);
    expect((await cli(['users', 'forget', randomUUID()])).code).toBe(3);
  });

  it('resumes a forget that failed midway where it stopped', async () => {
    const { user, documentId, sessionId } = await populated();
    const { stores } = node();
    // The graph store fails once the documents are gone, as a store that went down would.
    const failing = new Erasure({
      db: stores.db,
      objects: stores.objects,
      vectors: stores.vectors,
      graph: Object.assign(Object.create(stores.graph) as typeof stores.graph, {
        project: async () => Promise.reject(new Error('graph store down')),
      }),
      locks: stores.locks,
      sessions: node().accounts.sessions,
      revokeCredentials: async () => undefined,
      userChanged: () => undefined,
      logger: node().logger,
    });
    await expect(failing.forgetUser(user.id, { userId: null })).rejects.toThrow('graph store down');
    const partial = await cluster
      .sql()
      .query<{ steps: Record<string, unknown>; finished_at: Date | null }>(
        'select steps, finished_at from user_erasures where user_id = $1',
        [user.id],
      );
    expect(Object.keys(partial.rows[0]?.steps ?? {}).sort()).toEqual(['documents', 'revoke']);
    expect(partial.rows[0]?.finished_at).toBeNull();
    expect((await remains(user.id, documentId, sessionId)).documents).toBe(0);

    const resumed = await cli(['users', 'forget', user.id, '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout).steps).toMatchObject({
      documents: { documents: 1 },
      graph: { entities: 1 },
      account: { accounts: 1 },
    });
    expect(await remains(user.id, documentId, sessionId)).toEqual(nothing);
  });

  it('lets users delete their own account (the forget path), with their password', async () => {
    const { user, documentId, sessionId } = await populated();
    expect((await call(url, 'DELETE', '/v1/users/me', { token: user.token, body: { password: 'wrong' } })).status).toBe(
      401,
    );
    expect((await call(url, 'DELETE', '/v1/users/me', { token: user.token, body: {} })).status).toBe(400);
    const deleted = await call(url, 'DELETE', '/v1/users/me', { token: user.token, body: { password: user.password } });
    expect(deleted).toMatchObject({
      status: 200,
      body: { erasure: { userId: user.id, finishedAt: expect.any(String) } },
    });
    expect(await remains(user.id, documentId, sessionId)).toEqual(nothing);
    expect(
      (await call(url, 'POST', '/v1/auth/login', { body: { email: user.email, password: user.password } })).status,
    ).toBe(401);
  });
});
