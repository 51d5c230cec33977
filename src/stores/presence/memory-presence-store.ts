import type { PresenceEntry } from '../../../protocol/events.js';
import type { Role } from '../../../protocol/roles.js';
import type { PresenceAfterChange, PresenceChange, PresenceStore } from './presence-store.js';

/** Presence for the single-node embedded default. */
export class MemoryPresenceStore implements PresenceStore {
  private readonly sessions = new Map<string, Map<string, { role: Role; connections: number }>>();

  async change(sessionId: string, userId: string, role: Role, delta: 1 | -1): Promise<PresenceAfterChange> {
    let users = this.sessions.get(sessionId);
    if (users === undefined) {
      users = new Map();
      this.sessions.set(sessionId, users);
    }
    const current = users.get(userId) ?? { role, connections: 0 };
    current.connections = Math.max(0, current.connections + delta);
    if (current.connections === 0) users.delete(userId);
    else users.set(userId, current);
    if (users.size === 0) this.sessions.delete(sessionId);
    // Read before anything awaits: a concurrent change of the same user must not show here.
    const present = this.present(sessionId);
    return { connections: current.connections, present: async () => present };
  }

  async list(sessionId: string): Promise<PresenceEntry[]> {
    return this.present(sessionId);
  }

  private present(sessionId: string): PresenceEntry[] {
    return [...(this.sessions.get(sessionId) ?? new Map<string, { role: Role; connections: number }>()).entries()]
      .map(([userId, { role, connections }]) => ({ userId, role, connections }))
      .sort((a, b) => (a.userId < b.userId ? -1 : 1));
  }

  async aliveNodes(nodeIds: readonly string[]): Promise<Set<string>> {
    return new Set(nodeIds);
  }

  async heartbeat(): Promise<void> {}

  async reapDeadNodes(): Promise<PresenceChange[]> {
    return [];
  }

  /** The one node holds every count: all of them go, and every user counted is reported at 0. */
  async clearNode(): Promise<PresenceChange[]> {
    const changes = [...this.sessions.entries()].flatMap(([sessionId, users]) =>
      [...users.entries()].map(([userId, { role }]) => ({ sessionId, entry: { userId, role, connections: 0 } })),
    );
    this.sessions.clear();
    return changes;
  }
}
