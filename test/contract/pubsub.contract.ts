import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PubSub } from '../../src/stores/pubsub/pubsub.js';
import { uniqueName } from '../helpers/env.js';

/** How a PubSub implementation is created for the contract suite. */
export interface PubSubSuiteOptions {
  name: string;
  /**
   * Two instances that share one bus, as two nodes of a cluster would (for the in-process
   * implementation, the same instance twice).
   */
  create: () => Promise<[PubSub, PubSub]>;
}

function nextMessage(
  bus: PubSub,
  channel: string,
): Promise<{ message: Promise<string>; unsubscribe: () => Promise<void> }> {
  let resolve: (m: string) => void = () => undefined;
  const message = new Promise<string>((r) => (resolve = r));
  return bus.subscribe(channel, (m) => resolve(m)).then((unsubscribe) => ({ message, unsubscribe }));
}

/** The behaviour every pub/sub implementation must have. */
export function pubSubContract(options: PubSubSuiteOptions): void {
  describe(`PubSub contract: ${options.name}`, () => {
    let a: PubSub;
    let b: PubSub;

    beforeAll(async () => {
      [a, b] = await options.create();
    });
    afterAll(async () => {
      await a.close();
      if (b !== a) await b.close();
    });

    it('answers ping', async () => {
      await a.ping();
      await b.ping();
    });

    it('delivers a message published by one instance to subscribers of both', async () => {
      const channel = uniqueName('ch');
      const onA = await nextMessage(a, channel);
      const onB = await nextMessage(b, channel);
      await a.publish(channel, '{"hello":"世界"}');
      expect(await onA.message).toBe('{"hello":"世界"}');
      expect(await onB.message).toBe('{"hello":"世界"}');
      await onA.unsubscribe();
      await onB.unsubscribe();
    });

    it('keeps the order of messages from one publisher', async () => {
      const channel = uniqueName('ch');
      const received: string[] = [];
      let done: () => void = () => undefined;
      const all = new Promise<void>((r) => (done = r));
      const unsubscribe = await b.subscribe(channel, (m) => {
        received.push(m);
        if (received.length === 100) done();
      });
      for (let i = 0; i < 100; i++) await a.publish(channel, String(i));
      await all;
      expect(received).toEqual(Array.from({ length: 100 }, (_, i) => String(i)));
      await unsubscribe();
    });

    it('delivers binary messages byte for byte, in the order one instance published them', async () => {
      const channel = uniqueName('bin');
      const sent = Array.from({ length: 50 }, (_, i) =>
        Buffer.from([i, 0x00, 0xff, 0xc3, 0x28, 0xe2, 0x82, ...Buffer.from(`#${i}`)]),
      );
      const received: Buffer[] = [];
      let done: () => void = () => undefined;
      const all = new Promise<void>((r) => (done = r));
      const unsubscribe = await b.subscribeBuffer(channel, (m) => {
        received.push(m);
        if (received.length === sent.length) done();
      });
      for (const message of sent) await a.publishBuffer(channel, message);
      await all;
      expect(received.map((m) => m.toString('hex'))).toEqual(sent.map((m) => m.toString('hex')));
      expect(received.every((m) => Buffer.isBuffer(m))).toBe(true);
      await unsubscribe();
    });

    it('stops delivering binary messages after unsubscribe', async () => {
      const channel = uniqueName('bin');
      const removed: Buffer[] = [];
      const unsubscribe = await b.subscribeBuffer(channel, (m) => removed.push(m));
      await unsubscribe();
      let resolve: (m: Buffer) => void = () => undefined;
      const next = new Promise<Buffer>((r) => (resolve = r));
      const kept = await a.subscribeBuffer(channel, (m) => resolve(m));
      await b.publishBuffer(channel, Buffer.from([1, 2, 3]));
      expect([...(await next)]).toEqual([1, 2, 3]);
      expect(removed).toEqual([]);
      await kept();
    });

    it('stops delivering after unsubscribe, leaving other subscribers alone', async () => {
      const channel = uniqueName('ch');
      const removed: string[] = [];
      const unsubscribe = await b.subscribe(channel, (m) => removed.push(m));
      await unsubscribe();
      const kept = await nextMessage(b, channel);
      await a.publish(channel, 'after');
      expect(await kept.message).toBe('after');
      expect(removed).toEqual([]);
      await kept.unsubscribe();
    });
  });
}
