import type { PresenceEntry } from '../../../protocol/events.js';
import { type Role, roles } from '../../../protocol/roles.js';
import { keys } from '../names.js';
import type { RedisClient } from '../redis/connection.js';
import { defineScript } from '../redis/scripts.js';
import type { PresenceAfterChange, PresenceChange, PresenceStore } from './presence-store.js';

const NODES = keys.nodes;
const presenceKey = keys.presence;
const nodeSessionsKey = keys.nodeSessions;
const aliveKey = keys.nodeAlive;

type PresenceClient = RedisClient & {
  presenceChange(presence: string, field: string, delta: number, marker: string): Promise<[number, string[], 0 | 1]>;
};

function parseField(field: string): { nodeId: string; userId: string; role: Role } | undefined {
  const [nodeId, userId, role] = field.split('\t');
  if (nodeId === undefined || userId === undefined || !roles.includes(role as Role)) return undefined;
  return { nodeId, userId, role: role as Role };
}

/**
 * Presence in Redis: a hash per session with one field per (node, user, role) holding that
 * node's connection count; a heartbeat key per node (`vh:node-alive:<id>`, expires after
 * `aliveMs`); and per node the set of sessions it has counts in, so that a dead node's
 * counts can be found and removed. Every command touches one key, or keys of one slot, so
 * that it runs on a Redis Cluster as on one Redis.
 */
export class RedisPresenceStore implements PresenceStore {
  private readonly redis: PresenceClient;
  /**
   * Nodes seen alive, with until when that answer is reused: a join or leave then costs one
   * round trip. A node that dies keeps showing for at most this much longer than its
   * heartbeat key lives.
   */
  private readonly seenAlive = new Map<string, number>();
  private readonly aliveReuseMs: number;
  /**
   * The last change of each session on this node, in flight: changes of one session run one
   * after the other, so the node's set of sessions follows the order of the counts.
   */
  private readonly changing = new Map<string, Promise<unknown>>();

  constructor(
    redis: RedisClient,
    private readonly nodeId: string,
    /** How long a node counts as alive after its last heartbeat. */
    private readonly aliveMs = 15_000,
  ) {
    defineScript(redis, 'presence-change-1.lua', 'presenceChange');
    this.redis = redis as PresenceClient;
    this.aliveReuseMs = Math.min(1_000, aliveMs / 4);
  }

  async change(sessionId: string, userId: string, role: Role, delta: 1 | -1): Promise<PresenceAfterChange> {
    const before = this.changing.get(sessionId) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(() => this.applyChange(sessionId, userId, role, delta));
    this.changing.set(sessionId, run);
    try {
      return await run;
    } finally {
      if (this.changing.get(sessionId) === run) this.changing.delete(sessionId);
    }
  }

  /**
   * A joining node enters the session's set before its count goes up, and a node left with
   * no connection leaves it after: a node that dies between the two steps is at worst in
   * the set of a session where it counts nothing (its reaper finds nothing to remove).
   */
  private async applyChange(
    sessionId: string,
    userId: string,
    role: Role,
    delta: 1 | -1,
  ): Promise<PresenceAfterChange> {
    if (delta > 0) await this.redis.sadd(nodeSessionsKey(this.nodeId), sessionId);
    const [connections, flat, nodeHasMore] = await this.redis.presenceChange(
      presenceKey(sessionId),
      `${this.nodeId}\t${userId}\t${role}`,
      delta,
      `\t${userId}\t`,
    );
    if (nodeHasMore === 0) await this.redis.srem(nodeSessionsKey(this.nodeId), sessionId);
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
    return { connections, present: () => this.present(fields) };
  }

  async list(sessionId: string): Promise<PresenceEntry[]> {
    return this.present(await this.redis.hgetall(presenceKey(sessionId)));
  }

  /** The users of a presence hash, counted over the nodes that are alive. */
  private async present(fields: Record<string, string>): Promise<PresenceEntry[]> {
    const parsed = Object.entries(fields).flatMap(([field, count]) => {
      const f = parseField(field);
      return f === undefined ? [] : [{ ...f, connections: Number(count) }];
    });
    const live = await this.aliveNodesReusing(parsed.map((p) => p.nodeId));
    const byUser = new Map<string, PresenceEntry>();
    for (const p of parsed) {
      if (!live.has(p.nodeId) || p.connections <= 0) continue;
      const entry = byUser.get(p.userId) ?? { userId: p.userId, role: p.role, connections: 0 };
      entry.connections += p.connections;
      byUser.set(p.userId, entry);
    }
    return [...byUser.values()].sort((a, b) => (a.userId < b.userId ? -1 : 1));
  }

  /** `aliveNodes`, reusing recent answers of alive (never of dead). */
  private async aliveNodesReusing(nodeIds: readonly string[]): Promise<Set<string>> {
    const now = Date.now();
    const live = new Set<string>();
    const unknown: string[] = [];
    for (const nodeId of new Set(nodeIds)) {
      if (nodeId === this.nodeId || (this.seenAlive.get(nodeId) ?? 0) > now) live.add(nodeId);
      else unknown.push(nodeId);
    }
    if (unknown.length === 0) return live;
    if (this.seenAlive.size > 64)
      for (const [nodeId, until] of this.seenAlive) if (until <= now) this.seenAlive.delete(nodeId);
    for (const nodeId of await this.aliveNodes(unknown)) {
      live.add(nodeId);
      this.seenAlive.set(nodeId, now + this.aliveReuseMs);
    }
    return live;
  }

  async aliveNodes(nodeIds: readonly string[]): Promise<Set<string>> {
    const unique = [...new Set(nodeIds)];
    if (unique.length === 0) return new Set();
    // One GET per node (on a Redis Cluster the keys live on different masters).
    const alive = await Promise.all(unique.map((nodeId) => this.redis.get(aliveKey(nodeId))));
    return new Set(unique.filter((_, i) => alive[i] !== null));
  }

  async heartbeat(): Promise<void> {
    await Promise.all([
      this.redis.set(aliveKey(this.nodeId), '1', 'PX', this.aliveMs),
      this.redis.sadd(NODES, this.nodeId),
    ]);
  }

  async reapDeadNodes(): Promise<PresenceChange[]> {
    const nodes = await this.redis.smembers(NODES);
    if (nodes.length === 0) return [];
    const alive = await this.aliveNodes(nodes);
    const changes: PresenceChange[] = [];
    for (const nodeId of nodes) {
      if (alive.has(nodeId) || nodeId === this.nodeId) continue;
      // SREM answers 1 to exactly one reaper: that node cleans up.
      if ((await this.redis.srem(NODES, nodeId)) !== 1) continue;
      try {
        changes.push(...(await this.removeNode(nodeId)));
      } catch (error) {
        // Put back, so that a reaper (this one, next time) finishes the job and tells the rooms.
        await this.redis.sadd(NODES, nodeId).catch(() => undefined);
        throw error;
      }
    }
    return changes;
  }

  async clearNode(): Promise<PresenceChange[]> {
    const changes = await this.removeNode(this.nodeId);
    await Promise.all([this.redis.srem(NODES, this.nodeId), this.redis.del(aliveKey(this.nodeId))]);
    return changes;
  }

  private async removeNode(nodeId: string): Promise<PresenceChange[]> {
    const sessionIds = await this.redis.smembers(nodeSessionsKey(nodeId));
    const changes: PresenceChange[] = [];
    for (const sessionId of sessionIds) {
      const fields = await this.redis.hgetall(presenceKey(sessionId));
      const mine = Object.keys(fields).filter((f) => f.startsWith(`${nodeId}\t`));
      if (mine.length > 0) await this.redis.hdel(presenceKey(sessionId), ...mine);
      const remaining = await this.list(sessionId);
      for (const field of mine) {
        const f = parseField(field);
        if (f === undefined) continue;
        const entry = remaining.find((e) => e.userId === f.userId) ?? {
          userId: f.userId,
          role: f.role,
          connections: 0,
        };
        changes.push({ sessionId, entry });
      }
    }
    await this.redis.del(nodeSessionsKey(nodeId));
    return changes;
  }
}
