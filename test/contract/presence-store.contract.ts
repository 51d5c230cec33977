import { describe, expect, it } from 'vitest';
import type { PresenceChange, PresenceStore } from '../../src/stores/presence/presence-store.js';
import { eventually } from '../helpers/cluster.js';
import { uniqueName } from '../helpers/env.js';

/** One node's handle on the presence store, and that node's id. */
export interface PresenceNode {
  presence: PresenceStore;
  nodeId: string;
}

/** How a PresenceStore is created for the contract suite. */
export interface PresenceStoreSuiteOptions {
  name: string;
  /**
   * Two nodes' handles on one presence store, each counting as alive for `aliveMs` after its
   * heartbeat, with no other node in sight (each call a space of its own). In process: the
   * same store twice.
   */
  create: (options: { aliveMs: number }) => Promise<[PresenceNode, PresenceNode]>;
  /**
   * The two handles are separate nodes: each has counts of its own, is alive only while it
   * heart-beats, and is reaped by the other once it stops. False in process: one node, which
   * holds every count and is always alive.
   */
  separateNodes: boolean;
}

/** Changes sorted by session and user, for comparison. */
const sorted = (changes: PresenceChange[]) =>
  [...changes].sort((x, y) => (`${x.sessionId}\t${x.entry.userId}` < `${y.sessionId}\t${y.entry.userId}` ? -1 : 1));

/** Counting per user over nodes, the session list, clean shutdown and reaping, for every presence store. */
export function presenceStoreContract(options: PresenceStoreSuiteOptions): void {
  const ALIVE = { aliveMs: 60_000 };

  describe(`PresenceStore contract: ${options.name}`, () => {
    it("counts a user's connections over both nodes, and lists the session's users by id from either", async () => {
      const [a, b] = await options.create(ALIVE);
      await Promise.all([a.presence.heartbeat(), b.presence.heartbeat()]);
      const session = uniqueName('session');
      expect((await b.presence.change(session, 'carol', 'admin', 1)).connections).toBe(1);
      expect((await a.presence.change(session, 'alice', 'user', 1)).connections).toBe(1);
      expect((await b.presence.change(session, 'alice', 'user', 1)).connections).toBe(2);
      const last = await a.presence.change(session, 'bob', 'service', 1);
      expect(last.connections).toBe(1);
      const everyone = [
        { userId: 'alice', role: 'user', connections: 2 },
        { userId: 'bob', role: 'service', connections: 1 },
        { userId: 'carol', role: 'admin', connections: 1 },
      ];
      expect(await last.present()).toEqual(everyone);
      expect(await a.presence.list(session)).toEqual(everyone);
      expect(await b.presence.list(session)).toEqual(everyone);
      expect(await a.presence.list(uniqueName('session'))).toEqual([]);
    });

    it('gives each of many concurrent joins and leaves on both nodes a total of its own', async () => {
      const [a, b] = await options.create(ALIVE);
      await Promise.all([a.presence.heartbeat(), b.presence.heartbeat()]);
      const session = uniqueName('session');
      const nodes = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b));
      const joins = await Promise.all(nodes.map((n) => n.presence.change(session, 'alice', 'user', 1)));
      expect(joins.map((j) => j.connections).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      expect(await a.presence.list(session)).toEqual([{ userId: 'alice', role: 'user', connections: 20 }]);
      const leaves = await Promise.all(nodes.map((n) => n.presence.change(session, 'alice', 'user', -1)));
      expect(leaves.map((l) => l.connections).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(await b.presence.list(session)).toEqual([]);
    });

    it('drops a user whose last connection left, and never counts below zero', async () => {
      const [a] = await options.create(ALIVE);
      await a.presence.heartbeat();
      const session = uniqueName('session');
      await a.presence.change(session, 'alice', 'user', 1);
      await a.presence.change(session, 'bob', 'user', 1);
      const left = await a.presence.change(session, 'alice', 'user', -1);
      expect(left.connections).toBe(0);
      expect(await left.present()).toEqual([{ userId: 'bob', role: 'user', connections: 1 }]);
      // A leave with no connection counted (already removed, say).
      expect((await a.presence.change(session, 'alice', 'user', -1)).connections).toBe(0);
      expect((await a.presence.change(session, 'alice', 'user', 1)).connections).toBe(1);
      expect(await a.presence.list(session)).toEqual([
        { userId: 'alice', role: 'user', connections: 1 },
        { userId: 'bob', role: 'user', connections: 1 },
      ]);
    });

    it("removes the node's counts on a clean shutdown and reports each total it changed", async () => {
      const [a] = await options.create(ALIVE);
      await a.presence.heartbeat();
      const [first, second] = [uniqueName('session'), uniqueName('session')];
      await a.presence.change(first, 'alice', 'user', 1);
      await a.presence.change(first, 'alice', 'user', 1);
      await a.presence.change(second, 'bob', 'service', 1);
      expect(sorted(await a.presence.clearNode())).toEqual(
        sorted([
          { sessionId: first, entry: { userId: 'alice', role: 'user', connections: 0 } },
          { sessionId: second, entry: { userId: 'bob', role: 'service', connections: 0 } },
        ]),
      );
      expect(await a.presence.list(first)).toEqual([]);
      expect(await a.presence.list(second)).toEqual([]);
    });

    it.runIf(options.separateNodes)(
      "leaves the other node's counts when one shuts down, and counts the one gone as dead",
      async () => {
        const [a, b] = await options.create(ALIVE);
        await Promise.all([a.presence.heartbeat(), b.presence.heartbeat()]);
        const session = uniqueName('session');
        await a.presence.change(session, 'alice', 'user', 1);
        await b.presence.change(session, 'alice', 'user', 1);
        await b.presence.change(session, 'bob', 'user', 1);
        const never = uniqueName('node');
        expect(await a.presence.aliveNodes([a.nodeId, b.nodeId, never])).toEqual(new Set([a.nodeId, b.nodeId]));
        expect(sorted(await b.presence.clearNode())).toEqual([
          { sessionId: session, entry: { userId: 'alice', role: 'user', connections: 1 } },
          { sessionId: session, entry: { userId: 'bob', role: 'user', connections: 0 } },
        ]);
        expect(await a.presence.list(session)).toEqual([{ userId: 'alice', role: 'user', connections: 1 }]);
        expect(await a.presence.aliveNodes([a.nodeId, b.nodeId])).toEqual(new Set([a.nodeId]));
        // Nothing left of it to reap.
        expect(await a.presence.reapDeadNodes()).toEqual([]);
      },
    );

    it.runIf(options.separateNodes)(
      'stops counting a node that stopped heart-beating, and reaps it once, reporting each total it changed',
      async () => {
        const [a, b] = await options.create({ aliveMs: 2_000 });
        await Promise.all([a.presence.heartbeat(), b.presence.heartbeat()]);
        const session = uniqueName('session');
        await a.presence.change(session, 'alice', 'user', 1);
        await b.presence.change(session, 'alice', 'user', 1);
        await b.presence.change(session, 'bob', 'user', 1);
        expect(await a.presence.list(session)).toEqual([
          { userId: 'alice', role: 'user', connections: 2 },
          { userId: 'bob', role: 'user', connections: 1 },
        ]);
        // b stops beating; a goes on.
        await eventually(async () => {
          await a.presence.heartbeat();
          expect(await a.presence.aliveNodes([a.nodeId, b.nodeId])).toEqual(new Set([a.nodeId]));
          expect(await a.presence.list(session)).toEqual([{ userId: 'alice', role: 'user', connections: 1 }]);
        });
        expect(sorted(await a.presence.reapDeadNodes())).toEqual([
          { sessionId: session, entry: { userId: 'alice', role: 'user', connections: 1 } },
          { sessionId: session, entry: { userId: 'bob', role: 'user', connections: 0 } },
        ]);
        expect(await a.presence.reapDeadNodes()).toEqual([]);
        expect(await a.presence.list(session)).toEqual([{ userId: 'alice', role: 'user', connections: 1 }]);
        // A node that comes back counts from nothing.
        await b.presence.heartbeat();
        expect((await b.presence.change(session, 'bob', 'user', 1)).connections).toBe(1);
        expect(await a.presence.list(session)).toEqual([
          { userId: 'alice', role: 'user', connections: 1 },
          { userId: 'bob', role: 'user', connections: 1 },
        ]);
      },
    );
  });
}
