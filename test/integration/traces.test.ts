import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClient, request, type TestSocket } from '../helpers/client.js';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { call } from '../helpers/http.js';

/** One span as OTLP/JSON sends it, with the node (`service.instance.id`) that made it. */
interface ReceivedSpan {
  node: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, unknown>;
}

interface OtlpAttribute {
  key: string;
  value: Record<string, unknown>;
}

interface OtlpExport {
  resourceSpans?: Array<{
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: Array<{
      spans?: Array<Omit<ReceivedSpan, 'node' | 'attributes'> & { attributes?: OtlpAttribute[] }>;
    }>;
  }>;
}

const attributeOf = (attributes: OtlpAttribute[] | undefined, key: string): unknown => {
  const value = attributes?.find((a) => a.key === key)?.value;
  return value === undefined ? undefined : Object.values(value)[0];
};

/** An OTLP/HTTP collector of the test's own: keeps every span posted to /v1/traces. */
async function collector(): Promise<{ server: Server; url: string; spans: ReceivedSpan[]; bodies: number }> {
  const received = { spans: [] as ReceivedSpan[], bodies: 0 };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        received.bodies++;
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport;
        for (const resource of body.resourceSpans ?? []) {
          const node = String(attributeOf(resource.resource?.attributes, 'service.instance.id'));
          for (const scope of resource.scopeSpans ?? [])
            for (const span of scope.spans ?? [])
              received.spans.push({
                ...span,
                node,
                attributes: Object.fromEntries((span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]])),
              });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(received, { server, url: `http://127.0.0.1:${port}` });
}

// Two node processes export spans over OTLP/HTTP to a collector of the test's own (the
// in-process node of the cluster traces nothing: tracing is a process's, started by main).
describe('traces across two nodes (OTLP/HTTP)', () => {
  let cluster: TestCluster;
  let traces: Awaited<ReturnType<typeof collector>>;
  let a: { url: string; node: string };
  let b: { url: string; node: string };
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    traces = await collector();
    cluster = await TestCluster.start(1);
    const traced = { OTEL_EXPORTER_OTLP_ENDPOINT: traces.url, OTEL_BSP_SCHEDULE_DELAY: '100' };
    const spawned = await Promise.all([cluster.spawnNode(traced), cluster.spawnNode(traced)]);
    [a, b] = spawned.map(({ url }) => ({ url, node: `spawned-${new URL(url).port}` })) as [typeof a, typeof b];
  }, 60_000);
  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await cluster?.stop();
    traces?.server.close();
  });

  const open = async (url: string, token: string) => {
    const socket = await openClient(url, { token });
    sockets.push(socket);
    return socket;
  };

  it('puts the steps of one message:send on node A and its delivery on node B in one trace', async () => {
    const owner = await cluster.user();
    const sender = await open(a.url, owner.token);
    const listener = await open(b.url, owner.token);
    const sessionId = await cluster.session(sender);
    expect(await request(listener, 'session:join', { sessionId })).toMatchObject({ ok: true });
    const delivered = new Promise((resolve) => listener.once('message:new', resolve));
    const sent = await request<{ message: { seq: number } }>(sender, 'message:send', {
      sessionId,
      clientMsgId: 'traced-1',
      content: 'follow me across nodes',
    });
    expect(sent.ok).toBe(true);
    await delivered;

    // Each node exports on its own schedule, and the publish ends after the ack: wait for all of them.
    const expected: Array<[string, string]> = [
      ['limit check', a.node],
      ['validate', a.node],
      ['message commit', a.node],
      ['relay publish', a.node],
      ['message deliver', b.node],
    ];
    let send: ReceivedSpan | undefined;
    await eventually(() => {
      send = traces.spans.find(
        (s) => s.node === a.node && s.name === 'message:send' && s.attributes['enduser.id'] === owner.id,
      );
      expect(send).toBeDefined();
      const inTrace = traces.spans.filter((s) => s.traceId === send?.traceId);
      for (const [name, node] of expected)
        expect(
          inTrace.some((s) => s.name === name && s.node === node),
          name,
        ).toBe(true);
    }, 15_000);
    const inTrace = traces.spans.filter((s) => s.traceId === send?.traceId);
    const on = (name: string, node: string) => inTrace.find((s) => s.name === name && s.node === node);
    // The event on A (a server span) and its steps as its children.
    expect(send?.kind).toBe(2);
    for (const step of ['limit check', 'validate', 'message commit', 'relay publish'])
      expect(on(step, a.node), step).toMatchObject({ parentSpanId: send?.spanId });
    expect(on('message commit', a.node)?.attributes).toMatchObject({ 'db.system.name': 'postgresql' });
    // The delivery on B continues the relay's publish (a consumer span under A's producer span).
    const publish = on('relay publish', a.node);
    expect(publish?.kind).toBe(4);
    expect(on('message deliver', b.node)).toMatchObject({
      kind: 5,
      parentSpanId: publish?.spanId,
      attributes: { 'voicehelper.session': sessionId, 'voicehelper.sockets': 1 },
    });
  });

  it('shows retrieval as embed, vector search and graph expand, and HTTP requests by route', async () => {
    const user = await cluster.user();
    const socket = await open(a.url, user.token);
    expect(await request(socket, 'retrieve', { query: 'where is the trace' })).toMatchObject({ ok: true });
    const sessionId = await cluster.session(socket);
    const listed = await call(b.url, 'GET', `/v1/sessions/${sessionId}/messages?limit=5`, { token: user.token });
    expect(listed.status).toBe(200);
    await eventually(() => {
      const retrieve = traces.spans.find(
        (s) => s.node === a.node && s.name === 'retrieve' && s.attributes['enduser.id'] === user.id,
      );
      expect(retrieve).toBeDefined();
      const children = traces.spans
        .filter((s) => s.parentSpanId === retrieve?.spanId)
        .map((s) => s.name)
        .sort();
      expect(children).toEqual(['embed', 'graph expand', 'limit check', 'validate', 'vector search']);
      const http = traces.spans.find(
        (s) => s.node === b.node && s.attributes['url.path'] === `/v1/sessions/${sessionId}/messages`,
      );
      expect(http).toMatchObject({
        name: 'GET /v1/sessions/:id/messages',
        kind: 2,
        attributes: { 'http.route': '/v1/sessions/:id/messages', 'http.response.status_code': 200 },
      });
    }, 15_000);
  });
});
