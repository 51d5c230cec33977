import { createServer, type Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { Server } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../../protocol/models.js';
import type { AppSocket } from '../../src/realtime/dispatcher.js';
import type { AppServer } from '../../src/realtime/io-server.js';
import { MessageRelay } from '../../src/realtime/message-relay.js';
import { outboundBytes } from '../../src/realtime/outbound.js';
import type { MessageStore } from '../../src/stores/messages/message-store.js';
import { MemoryPubSub } from '../../src/stores/pubsub/memory-pubsub.js';
import { openClient, type TestSocket } from '../helpers/client.js';
import { eventually } from '../helpers/cluster.js';
import { testLogger } from '../helpers/env.js';

const SESSION = 'session-1';
const message = (seq: number, content = `message ${seq}`): Message => ({
  id: `m${seq}`,
  sessionId: SESSION,
  seq,
  role: 'user',
  content,
  contentType: 'text',
  metadata: {},
  clientMsgId: null,
  senderId: null,
  createdAt: new Date(0).toISOString(),
});

/**
 * The committed messages of one session, as PostgreSQL would hold them, for the relay's
 * gap filling: only `since` is read. `down` makes reads fail as a lost database would.
 */
class CommittedMessages {
  readonly messages: Message[] = [];
  down = false;
  readonly store = {
    since: async (_sessionId: string, sinceSeq: number, limit: number) => {
      if (this.down) throw new Error('database unreachable');
      const newer = this.messages.filter((m) => m.seq > sinceSeq);
      return { messages: newer.slice(0, limit), hasMore: newer.length > limit };
    },
  } as unknown as MessageStore;
}

/** A socket.io server on a loopback port with one client connected to it. */
async function serve(): Promise<{ http: HttpServer; io: AppServer; socket: AppSocket; client: TestSocket }> {
  const http = createServer();
  const io = new Server(http) as AppServer;
  const connected = new Promise<AppSocket>((resolve) => io.on('connection', (socket) => resolve(socket as AppSocket)));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const client = await openClient(
    `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
    {},
  );
  return { http, io, socket: await connected, client };
}

describe('MessageRelay catching a socket up while the session goes on live', () => {
  let served: Awaited<ReturnType<typeof serve>> | undefined;
  let relay: MessageRelay | undefined;

  afterEach(async () => {
    served?.client.close();
    await relay?.close();
    await new Promise((resolve) => served?.io.close(resolve));
  });

  it('hands it each message once, in order, whichever of the catch-up and the live feed gets there first', async () => {
    served = await serve();
    const received: number[] = [];
    served.client.on('message:new', ({ message: m }: { message: Message }) => received.push(m.seq));
    // 40 messages of 1 MB are committed; the feed has processed only the first.
    const committed = new CommittedMessages();
    const big = (seq: number) => message(seq, `${seq}`.padEnd(1024 * 1024, '.'));
    for (let seq = 1; seq <= 40; seq++) committed.messages.push(big(seq));
    relay = new MessageRelay(served.io, new MemoryPubSub(), committed.store, async () => new Map(), testLogger(), {
      pollMs: 60_000,
      outboundSoftLimitBytes: 0,
      drainTimeoutMs: 30_000,
    });
    // The client stops reading, so the catch-up soon waits for the socket to drain...
    const transport = (served.client.io.engine as unknown as { transport: { ws: { _socket: NetSocket } } }).transport;
    transport.ws._socket.pause();
    await relay.join(served.socket, SESSION, async () => ({ result: undefined, delivered: 0, lastSeq: 1 }));
    await eventually(() => expect(outboundBytes(served!.socket)).toBeGreaterThan(0));
    // ...while the live feed announces the rest, and hands the socket what follows what it has.
    for (let seq = 2; seq <= 40; seq++) await relay.publish(big(seq), null);
    await new Promise((resolve) => setTimeout(resolve, 50));
    transport.ws._socket.resume();
    await eventually(() => expect(received.length).toBeGreaterThanOrEqual(40), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  }, 30_000);
});

describe('MessageRelay with a gap that PostgreSQL cannot fill for a while', () => {
  let http: HttpServer;
  let io: AppServer;
  let relay: MessageRelay;
  let client: TestSocket;

  afterEach(async () => {
    client?.close();
    await relay?.close();
    await new Promise((resolve) => io?.close(resolve));
  });

  it('holds at most maxPending messages, then delivers every message once, in order, when the gap closes', async () => {
    http = createServer();
    io = new Server(http) as AppServer;
    const connected = new Promise<AppSocket>((resolve) =>
      io.on('connection', (socket) => resolve(socket as AppSocket)),
    );
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    client = await openClient(
      `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`,
      {},
    );
    const received: number[] = [];
    client.on('message:new', ({ message: m }: { message: Message }) => received.push(m.seq));

    const committed = new CommittedMessages();
    const pubsub = new MemoryPubSub();
    relay = new MessageRelay(io, pubsub, committed.store, async () => new Map(), testLogger(), {
      gapTimeoutMs: 20,
      pollMs: 60_000,
      maxPending: 100,
      outboundSoftLimitBytes: 1024 * 1024,
      drainTimeoutMs: 30_000,
    });
    await relay.join(await connected, SESSION, async () => ({ result: undefined, delivered: 0, lastSeq: 0 }));

    // 1,500 messages are committed; seq 1's announcement is lost and the database is down.
    committed.down = true;
    for (let seq = 1; seq <= 1_500; seq++) committed.messages.push(message(seq));
    for (let seq = 2; seq <= 1_500; seq++) {
      await relay.publish(message(seq), null);
      await new Promise((resolve) => setImmediate(resolve));
      expect(relay.pendingCount()).toBeLessThanOrEqual(100);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(received).toEqual([]);
    expect(relay.pendingCount()).toBe(100);

    committed.down = false;
    await eventually(() => expect(received).toHaveLength(1_500), 10_000);
    expect(received).toEqual(Array.from({ length: 1_500 }, (_, i) => i + 1));
    expect(relay.pendingCount()).toBe(0);

    // Later announcements flow as usual, and a late duplicate of an old one is ignored.
    committed.messages.push(message(1_501));
    await relay.publish(message(1_501), null);
    await relay.publish(message(700), null);
    await eventually(() => expect(received.at(-1)).toBe(1_501));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(received).toHaveLength(1_501);
  }, 30_000);
});
