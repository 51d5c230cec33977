import type { PresenceEntry } from '../../../protocol/events.js';
import type { Role } from '../../../protocol/roles.js';

/** A session whose presence changed because a node died. */
export interface PresenceChange {
  sessionId: string;
  entry: PresenceEntry;
}

/** What a change of presence leaves behind. */
export interface PresenceAfterChange {
  /** The user's connections in the session over every node. */
  connections: number;
  /**
   * Every user connected to the session on a live node right after the change, as `list`
   * gives them; worked out only when asked (a leave does not need it).
   */
  present: () => Promise<PresenceEntry[]>;
}

/**
 * Who is connected to which session, counted per user across all nodes. Each node counts
 * its own connections; counts of a node that stops heart-beating are removed by whichever
 * surviving node notices first.
 */
export interface PresenceStore {
  /** Adds (+1) or removes (-1) one connection of this node; returns the user's new total and the session's presence. */
  change(sessionId: string, userId: string, role: Role, delta: 1 | -1): Promise<PresenceAfterChange>;
  /** Every user connected to the session on a live node. */
  list(sessionId: string): Promise<PresenceEntry[]>;
  /** Which of these nodes are alive (heart-beating). */
  aliveNodes(nodeIds: readonly string[]): Promise<Set<string>>;
  /** Marks this node alive; called periodically. */
  heartbeat(): Promise<void>;
  /**
   * Removes the counts of nodes that stopped heart-beating, once across the cluster, and
   * returns the changed totals so that the caller can broadcast them.
   */
  reapDeadNodes(): Promise<PresenceChange[]>;
  /** Removes this node's counts (clean shutdown). */
  clearNode(): Promise<PresenceChange[]>;
}
