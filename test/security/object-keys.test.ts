import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import { request, type TestSocket } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { call, documentForm } from '../helpers/http.js';

describe('object keys are written by the server only; downloads are attachments (two nodes, S3)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(2);
  });
  afterAll(() => cluster?.stop());

  async function sendAudio(
    socket: TestSocket,
    sessionId: string,
    streamId: string,
    clientMsgId: string,
    bytes: Buffer,
  ) {
    expect(await request(socket, 'audio:start', { sessionId, streamId, mimeType: 'audio/webm' })).toEqual({
      ok: true,
      data: {},
    });
    expect(await request(socket, 'audio:chunk', { streamId, index: 0, data: bytes })).toMatchObject({ ok: true });
    const ended = await request<{ message: Message }>(socket, 'audio:end', { streamId, clientMsgId });
    if (!ended.ok) throw new Error(JSON.stringify(ended.error));
    return ended.data.message;
  }

  async function download(socket: TestSocket, messageId: string) {
    const link = await request<{ url: string }>(socket, 'audio:url', { messageId });
    if (!link.ok) throw new Error(JSON.stringify(link.error));
    const response = await fetch(link.data.url);
    return { response, body: Buffer.from(await response.arrayBuffer()) };
  }

  it('refuses audio content and server-owned metadata keys on message:send; streamId stays settable', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(0, owner);
    const sessionId = await cluster.session(socket);
    const send = (extra: Record<string, unknown>) =>
      request(socket, 'message:send', { sessionId, clientMsgId: randomUUID(), content: 'x', ...extra });
    expect(await send({ contentType: 'audio' })).toMatchObject({ ok: false, error: { code: 'VALIDATION' } });
    for (const key of [
      'objectKey',
      'mimeType',
      'bytes',
      'sha256',
      'sampleRate',
      'interrupted',
      'interruptedBy',
      'heard',
    ]) {
      const ack = await send({ metadata: { [key]: key === 'objectKey' ? `documents/${owner.id}/x/original.txt` : 1 } });
      expect({ key, ack }).toMatchObject({
        key,
        ack: { ok: false, error: { code: 'VALIDATION', details: { issues: [{ path: `metadata.${key}` }] } } },
      });
    }
    expect(await send({ contentType: 'transcript', metadata: { streamId: 'asr-9', lang: 'en' } })).toMatchObject({
      ok: true,
    });
    const { rows } = await cluster
      .sql()
      .query('select count(*)::int as n from messages where session_id = $1', [sessionId]);
    expect(rows[0].n).toBe(1);
  });

  it("presigns only audio under the message's own session, so a forged key pointing at a document or another session is refused", async () => {
    const victim = await cluster.user();
    const victimSocket = await cluster.connect(0, victim);
    const victimSession = await cluster.session(victimSocket);
    const victimAudio = await sendAudio(victimSocket, victimSession, 'v', 'v1', randomBytes(64));
    const doc = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: victim.token,
      form: documentForm('secret', 'secret.txt'),
    });
    expect(doc.status).toBe(202);

    const attacker = await cluster.user();
    const socket = await cluster.connect(1, attacker);
    const sessionId = await cluster.session(socket);
    // Rows as a message forged before this fix would have left them (written past the handler).
    for (const objectKey of [doc.body['document'].filePath as string, victimAudio.metadata['objectKey'] as string]) {
      const { message } = await cluster.nodes[1]!.stores.messages.append({
        sessionId,
        senderId: attacker.id,
        clientMsgId: randomUUID(),
        role: 'user',
        content: '',
        contentType: 'audio',
        metadata: { objectKey, mimeType: 'audio/webm' },
      });
      expect(await request(socket, 'audio:url', { messageId: message.id })).toMatchObject({
        ok: false,
        error: { code: 'VALIDATION' },
      });
    }
  });

  it('never overwrites stored audio: a reused stream id gets a new object, a reused clientMsgId keeps the first audio', async () => {
    const owner = await cluster.user();
    const speaker = await cluster.connect(0, owner);
    const listener = await cluster.connect(1, owner);
    const sessionId = await cluster.session(speaker);
    const first = randomBytes(300);
    const second = randomBytes(400);
    const one = await sendAudio(speaker, sessionId, 'mic', 'turn-1', first);
    const two = await sendAudio(speaker, sessionId, 'mic', 'turn-2', second);
    expect(one.metadata['objectKey']).not.toBe(two.metadata['objectKey']);
    expect(String(one.metadata['objectKey'])).toMatch(new RegExp(`^audio/${sessionId}/[0-9a-f-]{36}\\.webm$`));
    // A resent end answers the stored message and stores nothing.
    const resent = await request<{ message: Message }>(speaker, 'audio:end', {
      streamId: 'mic',
      clientMsgId: 'turn-2',
    });
    expect(resent.ok && resent.data.message.id).toBe(two.id);
    // A new stream under an old clientMsgId: the first message and its audio stand.
    const again = await sendAudio(speaker, sessionId, 'mic', 'turn-1', randomBytes(500));
    expect(again.id).toBe(one.id);
    expect((await download(listener, one.id)).body.equals(first)).toBe(true);
    expect((await download(listener, two.id)).body.equals(second)).toBe(true);
    await eventually(async () =>
      expect((await cluster.nodes[1]!.stores.objects.list(`audio/${sessionId}/`)).length).toBe(2),
    );
  });

  it('serves audio as an attachment of its audio type and an uploaded HTML page as an opaque attachment named by its title', async () => {
    const owner = await cluster.user();
    const socket = await cluster.connect(0, owner);
    const sessionId = await cluster.session(socket);
    const voice = await sendAudio(socket, sessionId, 'voice', 'v', randomBytes(10));
    const { response } = await download(socket, voice.id);
    expect(response.headers.get('content-type')).toBe('audio/webm');
    expect(response.headers.get('content-disposition')).toBe(
      `attachment; filename="${voice.id}.webm"; filename*=UTF-8''${voice.id}.webm`,
    );

    const html = '<html><body><script>alert(document.cookie)</script></body></html>';
    const created = await call(cluster.urls[0] as string, 'POST', '/v1/documents', {
      token: owner.token,
      form: documentForm(html, 'page.html', { title: 'Quarterly "report" – été' }, 'text/html'),
    });
    expect(created.status).toBe(202);
    const redirect = await call(
      cluster.urls[1] as string,
      'GET',
      `/v1/documents/${created.body['document'].id}/content`,
      { token: owner.token },
    );
    expect(redirect.status).toBe(302);
    const file = await fetch(redirect.headers.get('location') as string);
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/octet-stream');
    const disposition = file.headers.get('content-disposition') ?? '';
    expect(disposition.startsWith('attachment; filename="Quarterly _report_ _ _t_.html"')).toBe(true);
    expect(decodeURIComponent(disposition.split("UTF-8''")[1] ?? '')).toBe('Quarterly "report" – été.html');
    expect(await file.text()).toBe(html);
  });
});
