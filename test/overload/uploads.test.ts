import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { call, documentForm } from '../helpers/http.js';

const BOUNDARY = 'vh-upload-test-boundary';

/** An upload a client started and keeps open: headers and the first bytes of its body sent, the rest when it chooses. */
interface OpenUpload {
  socket: Socket;
  /** Everything the server answered, once it closed the connection. */
  answer: Promise<string>;
}

/**
 * Starts `POST /v1/documents` over a raw connection, promising a large body and sending only
 * the multipart head and a few bytes of the file: the server takes the upload's slot and
 * waits for the rest.
 */
function startUpload(url: string, token: string): OpenUpload {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.setNoDelay(true);
  const answer = new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('close', () => resolve(text));
    socket.on('error', () => undefined);
  });
  socket.write(
    [
      'POST /v1/documents HTTP/1.1',
      `Host: ${hostname}:${port}`,
      `Authorization: Bearer ${token}`,
      `Content-Type: multipart/form-data; boundary=${BOUNDARY}`,
      'Content-Length: 1000000',
      '',
      `--${BOUNDARY}`,
      'Content-Disposition: form-data; name="file"; filename="slow.txt"',
      'Content-Type: text/plain',
      '',
      'The first words of a document that',
    ].join('\r\n'),
  );
  return { socket, answer };
}

async function uploadsInFlight(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^voicehelper_uploads_in_flight\{[^}]*\} (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

const upload = (url: string, token: string, body = 'A whole document, sent at once.') =>
  call(url, 'POST', '/v1/documents', { token, form: documentForm(body, 'a.txt') });

describe('one user cannot take every upload slot (a node, two per user)', () => {
  let cluster: TestCluster;
  const open: OpenUpload[] = [];

  beforeAll(async () => {
    // The open uploads below must stay open for the test: no trickle cut here.
    cluster = await TestCluster.start(1, {
      UPLOAD_MAX_CONCURRENT_PER_USER: '2',
      UPLOAD_IDLE_TIMEOUT_MS: '600000',
      UPLOAD_MIN_BYTES_PER_SECOND: '0',
    });
  });
  afterAll(async () => {
    for (const { socket } of open) socket.destroy();
    await cluster?.stop();
  });

  it('refuses a third upload of the same user with 429 while another user still uploads, and gives the slots back', async () => {
    const url = cluster.urls[0] as string;
    const greedy = await cluster.user();
    const other = await cluster.user();
    open.push(startUpload(url, greedy.token), startUpload(url, greedy.token));
    await eventually(async () => expect(await uploadsInFlight(url)).toBe(2));

    const third = await upload(url, greedy.token);
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ error: { code: 'RATE_LIMITED', details: { limit: 2 } } });
    expect(third.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await upload(url, other.token)).status).toBe(202);

    // Once the client gives up its uploads, their slots are free again.
    for (const { socket } of open) socket.destroy();
    await eventually(async () => expect(await uploadsInFlight(url)).toBe(0));
    expect((await upload(url, greedy.token)).status).toBe(202);
  });
});

describe('a body that trickles is cut with 408 and frees its slot (a node, one upload per user)', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await TestCluster.start(1, {
      UPLOAD_MAX_CONCURRENT_PER_USER: '1',
      UPLOAD_IDLE_TIMEOUT_MS: '1000',
      UPLOAD_MIN_BYTES_PER_SECOND: '2048',
    });
  });
  afterAll(() => cluster?.stop());

  it('cuts a body that sends a few bytes and then nothing', async () => {
    const url = cluster.urls[0] as string;
    const user = await cluster.user();
    const stalled = startUpload(url, user.token);
    await eventually(async () => expect(await uploadsInFlight(url)).toBe(1));
    // While it holds the user's one slot, the user's next upload is refused.
    expect((await upload(url, user.token)).status).toBe(429);

    const answer = await stalled.answer;
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/^connection: close\r$/im);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    expect(body).toEqual({
      error: {
        code: 'VALIDATION',
        message: 'the request body sent nothing for 1000 ms and was cut',
        details: { idleTimeoutMs: 1000 },
      },
    });
    expect(await uploadsInFlight(url)).toBe(0);
    expect((await upload(url, user.token)).status).toBe(202);
  });

  it('cuts a body that keeps sending, but slower than the least rate', async () => {
    const url = cluster.urls[0] as string;
    const user = await cluster.user();
    const trickle = startUpload(url, user.token);
    // A byte every 100 ms: never idle for the timeout, far below 2048 bytes per second.
    const dripping = setInterval(() => trickle.socket.write('x'), 100);
    try {
      const answer = await trickle.answer;
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toContain('"minBytesPerSecond":2048');
    } finally {
      clearInterval(dripping);
    }
    expect(await uploadsInFlight(url)).toBe(0);
    expect((await upload(url, user.token)).status).toBe(202);
  });
});
