import { describe, expect, it } from 'vitest';
import { AppError, hasReason } from '../../src/errors/app-error.js';
import type { DeltaInput, StreamBuffer } from '../../src/stores/streams/stream-buffer.js';
import { eventually } from '../helpers/cluster.js';
import { uniqueName } from '../helpers/env.js';

/** How a StreamBuffer is created for the contract suite. */
export interface StreamBufferSuiteOptions {
  name: string;
  /**
   * Two handles on one buffer, as two nodes would have (in process: the same instance twice),
   * holding at most `maxBytes` per stream and forgetting a stream `ttlSeconds` after its last
   * delta. Each call gives a buffer of its own: `idle` sees no other test's streams.
   */
  create: (limits: { maxBytes: number; ttlSeconds: number }) => Promise<[StreamBuffer, StreamBuffer]>;
}

const ROOMY = { maxBytes: 1_024, ttlSeconds: 3_600 };

/** A delta of `alice`'s assistant stream from node `n1`, socket `s1`, unless overridden. */
function delta(sessionId: string, streamId: string, index: number, text: string, more: Partial<DeltaInput> = {}) {
  return {
    sessionId,
    streamId,
    userId: 'alice',
    role: 'assistant',
    index,
    delta: text,
    nodeId: 'n1',
    socketId: 's1',
    ...more,
  } satisfies DeltaInput;
}

/** What a rejected promise rejected with. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** Ordering, idempotency, bounds, ownership and barge-ins, for every stream buffer. */
export function streamBufferContract(options: StreamBufferSuiteOptions): void {
  describe(`StreamBuffer contract: ${options.name}`, () => {
    it('buffers deltas in index order from either node, with the owner and the node and socket of the last delta', async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      expect(await a.append(delta(session, stream, 0, 'Hello, '))).toBe('appended');
      // The client moved to another node: the stream follows it.
      expect(await b.append(delta(session, stream, 1, '世界', { nodeId: 'n2', socketId: 's2' }))).toBe('appended');
      const state = {
        sessionId: session,
        streamId: stream,
        userId: 'alice',
        role: 'assistant',
        nodeId: 'n2',
        socketId: 's2',
        text: 'Hello, 世界',
      };
      expect(await a.get(session, stream)).toEqual(state);
      expect(await b.get(session, stream)).toEqual(state);
      expect(await a.get(session, uniqueName('stream'))).toBeUndefined();
      expect(await a.get(uniqueName('session'), stream)).toBeUndefined();
    });

    it('answers duplicate for an index already seen, from either node, and keeps the text as it was', async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      await a.append(delta(session, stream, 0, 'one '));
      await a.append(delta(session, stream, 1, 'two '));
      expect(await b.append(delta(session, stream, 0, 'one '))).toBe('duplicate');
      expect(await b.append(delta(session, stream, 1, 'other text'))).toBe('duplicate');
      expect(await a.append(delta(session, stream, 2, 'three'))).toBe('appended');
      expect((await b.get(session, stream))?.text).toBe('one two three');
    });

    it('refuses a gap with VALIDATION naming the expected index, and keeps the stream as it was', async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      await expect(a.append(delta(session, stream, 1, 'late'))).rejects.toMatchObject({
        code: 'VALIDATION',
        details: { expectedIndex: 0 },
      });
      expect(await a.get(session, stream)).toBeUndefined();
      await a.append(delta(session, stream, 0, 'first '));
      await expect(b.append(delta(session, stream, 2, 'third'))).rejects.toMatchObject({
        code: 'VALIDATION',
        details: { expectedIndex: 1 },
      });
      expect(await b.append(delta(session, stream, 1, 'second'))).toBe('appended');
      expect((await a.get(session, stream))?.text).toBe('first second');
    });

    it('bounds a stream in UTF-8 bytes: the bound itself fits, a delta past it is PAYLOAD_TOO_LARGE and leaves the text', async () => {
      const [a, b] = await options.create({ maxBytes: 16, ttlSeconds: 3_600 });
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      // 6 bytes each: the bound counts bytes, not characters.
      await a.append(delta(session, stream, 0, '世界'));
      await a.append(delta(session, stream, 1, '世界'));
      await expect(b.append(delta(session, stream, 2, '世界'))).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
        details: { limit: 16 },
      });
      expect(await b.append(delta(session, stream, 2, 'abcd'))).toBe('appended');
      await expect(a.append(delta(session, stream, 3, 'x'))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
      expect((await a.get(session, stream))?.text).toBe('世界世界abcd');
      // A first delta past the bound opens no stream.
      const other = uniqueName('stream');
      await expect(a.append(delta(session, other, 0, 'x'.repeat(17)))).rejects.toMatchObject({
        code: 'PAYLOAD_TOO_LARGE',
      });
      expect(await a.get(session, other)).toBeUndefined();
    });

    it("refuses another user's delta with FORBIDDEN, a resend too, and keeps the stream its owner's", async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      await a.append(delta(session, stream, 0, 'mine'));
      await expect(b.append(delta(session, stream, 1, 'yours', { userId: 'bob' }))).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      await expect(b.append(delta(session, stream, 0, 'mine', { userId: 'bob' }))).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
      expect(await a.get(session, stream)).toMatchObject({ userId: 'alice', text: 'mine' });
    });

    it('hands a barge-in the whole stream, to both of two racing callers, and refuses every later delta while it is stored', async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      for (const [index, text] of ['ab', 'c', '世'].entries()) await a.append(delta(session, stream, index, text));
      const taken = await Promise.all([a.interrupt(session, stream), b.interrupt(session, stream)]);
      const whole = {
        sessionId: session,
        streamId: stream,
        userId: 'alice',
        role: 'assistant',
        nodeId: 'n1',
        socketId: 's1',
        text: 'abc世',
        // UTF-8 byte length of the text after each delta.
        deltaEnds: [2, 3, 6],
      };
      expect(taken).toEqual([whole, whole]);
      for (const late of [delta(session, stream, 3, 'd'), delta(session, stream, 0, 'ab')]) {
        const error = await rejection(b.append(late));
        expect(error).toBeInstanceOf(AppError);
        expect(error).toMatchObject({ code: 'CONFLICT' });
        expect(hasReason(error, 'stream_interrupted_storing')).toBe(true);
      }
      expect(await a.interruptedBy(session, stream)).toBeUndefined();
      expect(await a.interrupt(session, uniqueName('stream'))).toBeUndefined();
    });

    it('remembers the message a barge-in stored: later deltas name it, and the buffer is gone', async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      await a.append(delta(session, stream, 0, 'cut short'));
      await a.interrupt(session, stream);
      await a.interrupted(session, stream, 'message-1');
      expect(await b.interruptedBy(session, stream)).toBe('message-1');
      const error = await rejection(b.append(delta(session, stream, 1, ' and more')));
      expect(error).toMatchObject({ code: 'CONFLICT', details: { messageId: 'message-1' } });
      expect(hasReason(error, 'stream_interrupted')).toBe(true);
      expect(await b.get(session, stream)).toBeUndefined();
      expect(await b.interrupt(session, stream)).toBeUndefined();
      expect((await b.idle(0)).filter((open) => open.streamId === stream)).toEqual([]);
      expect(await b.interruptedBy(session, uniqueName('stream'))).toBeUndefined();
    });

    it('forgets a removed stream in get and idle; removing one that is not open is no error', async () => {
      const [a, b] = await options.create(ROOMY);
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      await a.append(delta(session, stream, 0, 'final'));
      await b.remove(session, stream);
      expect(await a.get(session, stream)).toBeUndefined();
      expect(await a.idle(0)).toEqual([]);
      await b.remove(session, stream);
      await b.remove(uniqueName('session'), uniqueName('stream'));
    });

    it('lists, from either node, the streams whose last delta is at least idleMs old, with its time', async () => {
      const [a, b] = await options.create(ROOMY);
      const streams = [
        { sessionId: uniqueName('session'), streamId: uniqueName('stream') },
        { sessionId: uniqueName('session'), streamId: uniqueName('stream') },
      ];
      const before = Date.now();
      for (const s of streams) await a.append(delta(s.sessionId, s.streamId, 0, 'hi'));
      const after = Date.now();
      const listed = (await b.idle(0)).sort((x, y) => (x.sessionId < y.sessionId ? -1 : 1));
      expect(listed.map(({ sessionId, streamId }) => ({ sessionId, streamId }))).toEqual(
        [...streams].sort((x, y) => (x.sessionId < y.sessionId ? -1 : 1)),
      );
      for (const open of listed) {
        expect(open.lastDeltaAt).toBeGreaterThanOrEqual(before);
        expect(open.lastDeltaAt).toBeLessThanOrEqual(after);
      }
      expect(await a.idle(60_000)).toEqual([]);
      // A later delta moves the stream's time on.
      const [first] = streams as [{ sessionId: string; streamId: string }];
      await eventually(() => expect(Date.now()).toBeGreaterThan(after));
      await b.append(delta(first.sessionId, first.streamId, 1, ' again'));
      const moved = (await a.idle(0)).find((open) => open.sessionId === first.sessionId);
      expect(moved?.lastDeltaAt).toBeGreaterThan(after);
    });

    it('forgets a stream that no delta reached for its TTL: it starts afresh', async () => {
      const [a, b] = await options.create({ maxBytes: 1_024, ttlSeconds: 1 });
      const [session, stream] = [uniqueName('session'), uniqueName('stream')];
      // One delta: a second one could already find the stream expired on a loaded machine.
      await a.append(delta(session, stream, 0, 'abandoned'));
      await eventually(async () => expect(await b.get(session, stream)).toBeUndefined());
      expect(await b.interrupt(session, stream)).toBeUndefined();
      expect(await b.append(delta(session, stream, 0, 'anew', { userId: 'bob' }))).toBe('appended');
      expect(await a.get(session, stream)).toMatchObject({ userId: 'bob', text: 'anew' });
    });
  });
}
