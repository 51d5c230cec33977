import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { type App, buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config/load.js';
import { nextEvent, openClient, request, type TestSocket } from '../helpers/client.js';
import { collect, eventually } from '../helpers/cluster.js';
import { LIFTED_LIMITS, tempDir } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';

/** Barge-in and turn latency on one node of the embedded default (in-process buffers, pub/sub, cache and turn clocks). */
describe('voice turns on the embedded default', () => {
  let app: App;
  let url: string;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    app = await buildApp(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        DATA_DIR: tempDir(),
        EMBEDDED_PG_PORT: String(await freePort()),
        LOG_LEVEL: 'silent',
        ...LIFTED_LIMITS,
      }),
    );
    url = `http://127.0.0.1:${(await app.listen(0, '127.0.0.1')).port}`;
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await app?.close();
  });

  const as = async (role: 'user' | 'service') => {
    const user = await app.stores.db.users.create({
      email: `${randomUUID()}@example.test`,
      username: role,
      passwordHash: 'unused',
      roles: [role],
    });
    const token = await app.tokens.sign({ userId: user.id, role });
    const socket = await openClient(url, { token });
    sockets.push(socket);
    return { id: user.id, token, socket };
  };

  it('cuts a token stream and a spoken answer, and keeps the turn figures', async () => {
    const user = await as('user');
    const worker = await as('service');
    const created = await request<{ session: { id: string } }>(user.socket, 'session:create', {});
    const sessionId = created.ok ? created.data.session.id : '';
    expect(await request(worker.socket, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const told = collect<{ streamId: string }>(worker.socket, 'turn:interrupted');

    const heard = nextEvent<{ message: Message }>(worker.socket, 'message:new');
    await request(user.socket, 'message:send', { sessionId, clientMsgId: 'q1', content: 'Tell me a story' });
    await heard;
    for (const [index, delta] of ['Once ', 'upon ', 'a time'].entries())
      await request(worker.socket, 'message:delta', { sessionId, streamId: 's1', index, delta });
    expect(await request(user.socket, 'turn:interrupt', { sessionId, streamId: 's1', heardIndex: 1 })).toMatchObject({
      ok: true,
      data: {
        message: {
          content: 'Once upon ',
          metadata: { interrupted: true, interruptedBy: user.id, heard: { index: 1 } },
        },
      },
    });
    expect(
      await request(worker.socket, 'message:delta', { sessionId, streamId: 's1', index: 3, delta: ' there' }),
    ).toMatchObject({ ok: false, error: { code: 'CONFLICT' } });

    await request(worker.socket, 'audio:start', { sessionId, streamId: 'v1', mimeType: 'audio/ogg' });
    for (const index of [0, 1, 2])
      await request(worker.socket, 'audio:chunk', { streamId: 'v1', index, data: Buffer.alloc(100, index) });
    expect(await request(user.socket, 'turn:interrupt', { sessionId, streamId: 'v1', heardIndex: 0 })).toMatchObject({
      ok: true,
      data: { message: { contentType: 'audio', metadata: { bytes: 100, interrupted: true } } },
    });
    await eventually(() => expect(told.map((t) => t.streamId)).toEqual(['s1', 'v1']));

    await eventually(async () => {
      const turns = await call(url, 'GET', `/v1/sessions/${sessionId}/turns`, { token: user.token });
      expect(turns.body['turns']).toEqual([
        expect.objectContaining({
          firstDeltaMs: expect.any(Number),
          firstAudioMs: expect.any(Number),
          interrupted: true,
          finalMs: null,
        }),
      ]);
    });
  });
});
