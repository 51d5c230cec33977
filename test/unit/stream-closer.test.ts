import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Metrics } from '../../src/metrics.js';
import { StreamCloser } from '../../src/realtime/stream-closer.js';
import { Conversation } from '../../src/services/conversation.js';
import type { TurnClock } from '../../src/services/turn-clock.js';
import { MemoryLockManager } from '../../src/stores/locks/memory-lock-manager.js';
import type { AppendInput, MessageStore } from '../../src/stores/messages/message-store.js';
import type { ObjectStore } from '../../src/stores/objects/object-store.js';
import type { PresenceStore } from '../../src/stores/presence/presence-store.js';
import { MemoryStreamBuffer } from '../../src/stores/streams/memory-stream-buffer.js';

// The sweep's rules for streams whose node is gone, on the in-process stream buffer with a
// recording message store: which node is alive is up to the test, and so is the clock.
describe('the stream closer on streams of a node that is gone', () => {
  const GRACE = 5_000;
  let streams: MemoryStreamBuffer;
  let alive: Set<string>;
  let stored: AppendInput[];
  let closer: StreamCloser;

  const delta = (streamId: string, index: number, nodeId: string) =>
    streams.append({
      sessionId: 's1',
      streamId,
      userId: 'u1',
      role: 'assistant',
      index,
      delta: `d${index} `,
      nodeId,
      socketId: `${nodeId}-socket`,
    });
  const sweepAfter = async (ms: number) => {
    vi.setSystemTime(Date.now() + ms);
    await closer.sweep();
  };

  beforeEach(() => {
    // Only the clock: the test runs every sweep itself (the closer's own timer never fires here).
    vi.useFakeTimers({ toFake: ['Date'] });
    streams = new MemoryStreamBuffer(1_000_000);
    alive = new Set(['node-a', 'node-b']);
    stored = [];
    const messages = {
      append: async (input: AppendInput) => {
        stored.push(input);
        return { message: { seq: stored.length }, duplicate: false };
      },
    } as unknown as MessageStore;
    const presence = {
      aliveNodes: async (ids: readonly string[]) => new Set(ids.filter((id) => alive.has(id))),
    } as unknown as PresenceStore;
    const logger = pino({ level: 'silent' });
    const conversation = new Conversation<null>({
      messages,
      streams,
      objects: {} as ObjectStore,
      turns: {} as TurnClock,
      delivery: { committed: () => undefined, interrupted: () => undefined },
      metrics: {} as Metrics,
      logger,
    });
    closer = new StreamCloser(streams, conversation, presence, new MemoryLockManager(), logger, {
      idleMs: 30_000,
      sweepMs: 3_600_000,
      resumeGraceMs: GRACE,
      nodeId: 'node-sweeper',
    });
  });
  afterEach(async () => {
    await closer.close();
    vi.useRealTimers();
  });

  it('gives the owner the whole grace from when the node went, however long the stream was quiet before', async () => {
    await delta('quiet', 0, 'node-a');
    await sweepAfter(20_000); // quiet for four graces, its node still alive: nothing to do
    expect(stored).toEqual([]);
    alive.delete('node-a'); // drained or died
    await sweepAfter(1_000); // the first sweep that finds it gone: the grace starts here
    await sweepAfter(GRACE - 1_000);
    expect(stored).toEqual([]);
    await sweepAfter(1_000);
    expect(stored).toEqual([
      expect.objectContaining({
        clientMsgId: 'stream:quiet',
        content: 'd0 ',
        metadata: { streamId: 'quiet', interrupted: true },
      }),
    ]);
    expect(await streams.get('s1', 'quiet')).toBeUndefined();
  });

  it('leaves a stream continued on a live node to that node, and restarts the grace if that one goes too', async () => {
    await delta('moved', 0, 'node-a');
    alive.delete('node-a');
    await sweepAfter(3_000);
    await delta('moved', 1, 'node-b'); // the client moved to node-b within the grace
    await sweepAfter(GRACE);
    await sweepAfter(GRACE);
    expect(stored).toEqual([]);
    alive.delete('node-b');
    await sweepAfter(1_000);
    await sweepAfter(GRACE - 1_000);
    expect(stored).toEqual([]);
    await sweepAfter(1_000);
    expect(stored.map((m) => m.content)).toEqual(['d0 d1 ']);
  });

  it('commits a stream idle past the limit whatever its node', async () => {
    await delta('idle', 0, 'node-a');
    await sweepAfter(29_000);
    expect(stored).toEqual([]);
    await sweepAfter(1_000);
    expect(stored.map((m) => m.clientMsgId)).toEqual(['stream:idle']);
  });
});
