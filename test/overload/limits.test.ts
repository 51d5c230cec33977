import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ack } from '../../protocol/errors.js';
import { request } from '../helpers/client.js';
import { TestCluster } from '../helpers/cluster.js';
import { call, documentForm } from '../helpers/http.js';

const TIGHT = '3/60s';
const EVENT_LIMITS = {
  RATE_LIMIT_SYS_PING: TIGHT,
  RATE_LIMIT_SESSION_CREATE: TIGHT,
  RATE_LIMIT_SESSION_JOIN: TIGHT,
  RATE_LIMIT_SESSION_LEAVE: TIGHT,
  RATE_LIMIT_SESSION_LIST: TIGHT,
  RATE_LIMIT_SESSION_UPDATE: TIGHT,
  RATE_LIMIT_HISTORY_GET: TIGHT,
  RATE_LIMIT_AUDIO_START: TIGHT,
  RATE_LIMIT_AUDIO_END: TIGHT,
  RATE_LIMIT_AUDIO_URL: TIGHT,
  RATE_LIMIT_MESSAGE_SEND: TIGHT,
  RATE_LIMIT_HTTP: '4/60s',
  RATE_LIMIT_REGISTER: '3/1h',
  RATE_LIMIT_LOGIN_IP: '4/60s',
  SOCKET_MAX_IN_FLIGHT: '4',
  UPLOAD_QUOTA_DOCUMENTS: '2',
  UPLOAD_QUOTA_BYTES: '1000',
  PASSWORD_HASH_CONCURRENCY: '1',
  PASSWORD_HASH_QUEUE: '1',
};

const refused = (ack: Ack<unknown>) =>
  !ack.ok && ack.error.code === 'RATE_LIMITED' && (ack.error.retryAfterMs ?? 0) > 0;

describe('every event and route is limited (two nodes sharing the windows)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, EVENT_LIMITS);
  });
  afterAll(() => cluster?.stop());

  it.each([
    ['sys:ping', () => ({})],
    ['session:create', () => ({ title: 't' })],
    ['session:join', (sessionId: string) => ({ sessionId })],
    ['session:leave', (sessionId: string) => ({ sessionId })],
    ['session:list', () => ({})],
    ['session:update', (sessionId: string) => ({ sessionId, title: 'x' })],
    ['history:get', (sessionId: string) => ({ sessionId })],
    ['audio:start', (sessionId: string) => ({ sessionId, streamId: randomUUID(), mimeType: 'audio/webm' })],
    ['audio:end', () => ({ streamId: 'nothing', clientMsgId: randomUUID() })],
    ['audio:url', () => ({ messageId: randomUUID() })],
  ] as const)(
    '%s: 3 per minute per user, counted across both nodes, then RATE_LIMITED with retryAfterMs',
    async (event, payload) => {
      const owner = await cluster.user();
      // A session made without spending the user's own session:create budget.
      const session = await cluster.nodes[0]!.stores.db.sessions.create({ userId: owner.id, title: 's' });
      const sockets = [await cluster.connect(0, owner), await cluster.connect(1, owner)];
      const acks = [];
      for (let i = 0; i < 4; i++) acks.push(await request(sockets[i % 2]!, event, payload(session.id)));
      expect(acks.slice(0, 3).some(refused)).toBe(false);
      expect(refused(acks[3]!)).toBe(true);
      // Another user is not affected.
      const other = await cluster.connect(1, await cluster.user());
      expect(refused(await request(other, event, payload(session.id)))).toBe(false);
    },
  );

  it('counts a delta that opens a stream against message:send, so fresh stream ids store no more than sends', async () => {
    const owner = await cluster.user();
    const session = await cluster.nodes[0]!.stores.db.sessions.create({ userId: owner.id, title: 's' });
    const socket = await cluster.connect(0, owner);
    for (let i = 0; i < 3; i++)
      expect(
        await request(socket, 'message:delta', { sessionId: session.id, streamId: `s${i}`, index: 0, delta: 'x' }),
      ).toEqual({ ok: true, data: {} });
    expect(
      refused(await request(socket, 'message:delta', { sessionId: session.id, streamId: 's3', index: 0, delta: 'x' })),
    ).toBe(true);
    // Further deltas of an open stream are not sends.
    expect(
      await request(socket, 'message:delta', { sessionId: session.id, streamId: 's0', index: 1, delta: 'y' }),
    ).toEqual({ ok: true, data: {} });
    expect(
      refused(await request(socket, 'message:send', { sessionId: session.id, clientMsgId: 'm', content: 'x' })),
    ).toBe(true);
  });

  it('refuses events past the in-flight cap of a socket with RATE_LIMITED, and acks every one', async () => {
    const owner = await cluster.user('admin');
    const socket = await cluster.connect(0, owner);
    const session = await cluster.nodes[0]!.stores.db.sessions.create({ userId: owner.id, title: 's' });
    // history:get is 3 per minute for this admin too: the cap answers before the window counts.
    const acks = await Promise.all(
      Array.from({ length: 40 }, () => request(socket, 'history:get', { sessionId: session.id })),
    );
    const inFlight = acks.filter(
      (a) => !a.ok && (a.error.details as { reason?: string } | undefined)?.reason === 'in_flight',
    );
    expect(acks).toHaveLength(40);
    expect(inFlight.length).toBeGreaterThan(0);
    expect(inFlight.every(refused)).toBe(true);
    const metrics = await (await fetch(`${cluster.urls[0]}/metrics`)).text();
    expect(metrics).toMatch(
      /voicehelper_socket_events_refused_total\{event="history:get",reason="in_flight",node="[^"]+"\} [1-9]/,
    );
    expect(metrics).toMatch(
      /voicehelper_socket_events_refused_total\{event="history:get",reason="rate_limit",node="[^"]+"\} [1-9]/,
    );
  });

  it('limits authenticated HTTP per user with 429 and Retry-After', async () => {
    const user = await cluster.user();
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await call(cluster.urls[i % 2] as string, 'GET', '/v1/documents', { token: user.token })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    const limited = await call(cluster.urls[0] as string, 'GET', '/v1/documents', { token: user.token });
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(
      (await call(cluster.urls[0] as string, 'GET', '/v1/documents', { token: (await cluster.user()).token })).status,
    ).toBe(200);
  });

  it('keeps each user within an upload quota of documents and bytes', async () => {
    const user = await cluster.user();
    const upload = (body: string, node = 0) =>
      call(cluster.urls[node] as string, 'POST', '/v1/documents', {
        token: user.token,
        form: documentForm(body, 'a.txt'),
      });
    expect((await upload('x'.repeat(1_500))).body).toMatchObject({
      error: { code: 'PAYLOAD_TOO_LARGE', details: { quota: 'bytes', limit: 1000 } },
    });
    expect((await upload('first')).status).toBe(202);
    expect((await upload('second', 1)).status).toBe(202);
    expect((await upload('third')).body).toMatchObject({
      error: { code: 'PAYLOAD_TOO_LARGE', details: { quota: 'documents', limit: 2, used: 2 } },
    });
  });

  it('refuses the metadata size before walking its entries', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(0, owner);
    const many = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`key${i}`, i]));
    const ack = await request(socket, 'session:create', { metadata: many });
    expect(ack).toMatchObject({
      ok: false,
      error: {
        code: 'VALIDATION',
        details: { issues: [{ path: 'metadata', message: 'must be at most 16 KiB as JSON' }] },
      },
    });
  });
});

describe('accounts cannot be mass-created or sprayed (two nodes)', () => {
  let cluster: TestCluster;
  // The windows are per client address and live in Redis: this run's requests come from an
  // address of their own (forwarded by a trusted proxy), so no other run shares them.
  const client = `198.18.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 254) + 1}`;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, { ...EVENT_LIMITS, TRUST_PROXY: 'loopback' });
  });
  afterAll(() => cluster?.stop());

  const post = (node: number, path: string, body: unknown) =>
    fetch(`${cluster.urls[node]}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': client },
      body: JSON.stringify(body),
    }).then(async (response) => ({ status: response.status, body: await response.text() }));
  const register = (node: number) =>
    post(node, '/v1/auth/register', {
      email: `${randomUUID()}@example.test`,
      username: 'u',
      password: 'long enough password',
    });
  const login = (node: number, email = `${randomUUID()}@example.test`) =>
    post(node, '/v1/auth/login', { email, password: 'wrong password here' });

  it('limits registrations per IP, and logins per IP across all emails (password spraying)', async () => {
    const registrations = [];
    for (let i = 0; i < 4; i++) registrations.push((await register(i % 2)).status);
    expect(registrations).toEqual([201, 201, 201, 429]);
    const logins = [];
    for (let i = 0; i < 5; i++) logins.push((await login(i % 2)).status);
    expect(logins).toEqual([401, 401, 401, 401, 429]);
  });

  it('answers a flood of logins past the password-hashing queue with 429 at once instead of queueing it', async () => {
    const fresh = await TestCluster.start(1, { ...EVENT_LIMITS, RATE_LIMIT_LOGIN_IP: '1000/60s' });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 12 }, () =>
          call(fresh.urls[0] as string, 'POST', '/v1/auth/login', {
            body: { email: `${randomUUID()}@example.test`, password: 'wrong password here' },
          }),
        ),
      );
      const codes = statuses.map((s) => s.status);
      expect(codes.filter((c) => c === 429).length).toBeGreaterThan(0);
      expect(codes.every((c) => c === 401 || c === 429)).toBe(true);
    } finally {
      await fresh.stop();
    }
  });
});

describe('sign-ins are limited per account, from any address, on any node (two nodes)', () => {
  let cluster: TestCluster;
  const ACCOUNT_LIMIT = 4;
  // A fresh client address for every request (forwarded by a trusted proxy): only the
  // account's window can refuse them.
  const address = () => `198.18.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 254) + 1}`;

  beforeAll(async () => {
    cluster = await TestCluster.start(2, {
      TRUST_PROXY: 'loopback',
      RATE_LIMIT_LOGIN: '3/60s',
      RATE_LIMIT_LOGIN_ACCOUNT: `${ACCOUNT_LIMIT}/60s`,
    });
  });
  afterAll(() => cluster?.stop());

  const send = async (node: number, method: string, path: string, body: unknown, token?: string) => {
    const response = await fetch(`${cluster.urls[node]}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'x-forwarded-for': address(),
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify(body),
    });
    return response.status;
  };
  const PASSWORD = 'the right password';
  const register = async () => {
    const email = `${randomUUID()}@example.test`;
    const response = await call(cluster.urls[0] as string, 'POST', '/v1/auth/register', {
      body: { email, username: 'u', password: PASSWORD },
    });
    expect(response.status).toBe(201);
    return { email, token: response.body['accessToken'] as string };
  };
  const login = (node: number, email: string, password = 'a wrong password') =>
    send(node, 'POST', '/v1/auth/login', { email, password });

  it('refuses an account with 429 once its failures from many addresses on both nodes reach the limit; another account is unaffected', async () => {
    const [target, other] = [await register(), await register()];
    const failures = [];
    for (let i = 0; i < ACCOUNT_LIMIT; i++) failures.push(await login(i % 2, target.email));
    expect(failures).toEqual(Array(ACCOUNT_LIMIT).fill(401));
    expect(await login(0, target.email)).toBe(429);
    expect(await login(1, target.email, PASSWORD)).toBe(429);
    expect(await login(1, other.email)).toBe(401);
    expect(await login(0, other.email, PASSWORD)).toBe(200);
  });

  it('counts failures only: a right password gives its attempt back', async () => {
    const user = await register();
    const statuses = [];
    for (let i = 0; i < ACCOUNT_LIMIT - 1; i++) statuses.push(await login(i % 2, user.email));
    statuses.push(await login(0, user.email, PASSWORD));
    statuses.push(await login(1, user.email));
    statuses.push(await login(0, user.email));
    expect(statuses).toEqual([...Array(ACCOUNT_LIMIT - 1).fill(401), 200, 401, 429]);
  });

  it('counts wrong current passwords of a password change and an account deletion in the same window as logins', async () => {
    const changing = await register();
    const change = (node: number, currentPassword: string) =>
      send(node, 'PUT', '/v1/users/me/password', { currentPassword, newPassword: 'a new password 2' }, changing.token);
    const statuses = [];
    for (let i = 0; i < ACCOUNT_LIMIT; i++) statuses.push(await change(i % 2, 'a wrong password'));
    statuses.push(await change(0, PASSWORD));
    expect(statuses).toEqual([...Array(ACCOUNT_LIMIT).fill(401), 429]);
    expect(await login(1, changing.email, PASSWORD)).toBe(429);

    const deleting = await register();
    const remove = (node: number, password: string) =>
      send(node, 'DELETE', '/v1/users/me', { password }, deleting.token);
    const mixed = [await login(0, deleting.email), await login(1, deleting.email)];
    for (let i = 2; i < ACCOUNT_LIMIT; i++) mixed.push(await remove(i % 2, 'a wrong password'));
    mixed.push(await remove(0, PASSWORD));
    expect(mixed).toEqual([...Array(ACCOUNT_LIMIT).fill(401), 429]);
    expect(await login(1, deleting.email, PASSWORD)).toBe(429);
  });

  it('counts password-change attempts from one address in that address and email window of logins too (RATE_LIMIT_LOGIN)', async () => {
    const user = await register();
    const fixed = '198.18.0.1';
    const change = (currentPassword: string) =>
      fetch(`${cluster.urls[0]}/v1/users/me/password`, {
        method: 'PUT',
        headers: {
          'content-type': 'application/json',
          'x-forwarded-for': fixed,
          authorization: `Bearer ${user.token}`,
        },
        body: JSON.stringify({ currentPassword, newPassword: 'a new password 2' }),
      }).then((response) => response.status);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await change('a wrong password'));
    expect(statuses).toEqual([401, 401, 401, 429]);
  });
});
