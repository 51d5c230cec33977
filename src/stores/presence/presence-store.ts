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
  /**
   * Adds (+1) or removes (-1) one connection of this node, atomically: of many concurrent
   * changes of one user each returns a total of its own, so broadcast counts never go
   * backwards. Returns the user's new total over every node (a dead node's counts included
   * until it is reaped), never below 0: a -1 with nothing counted on this node changes
   * nothing. A user whose last connection left is no longer listed.
   */
  change(sessionId: string, userId: string, role: Role, delta: 1 | -1): Promise<PresenceAfterChange>;
  /** Every user connected to the session on a live node, by user id, with the total over those nodes. */
  list(sessionId: string): Promise<PresenceEntry[]>;
  /**
   * Which of these nodes are alive: heart-beating, and not shut down (`clearNode`). A store
   * that is one node only (in process) answers all of them.
   */
  aliveNodes(nodeIds: readonly string[]): Promise<Set<string>>;
  /** Marks this node alive; called periodically. */
  heartbeat(): Promise<void>;
  /**
   * Removes the counts of nodes that stopped heart-beating, once across the cluster (one
   * reaper gets a dead node), and returns each changed total (0 for a user now gone) so
   * that the caller can broadcast them. A live node's counts are never removed; they stop
   * counting in `list` as soon as the node is dead, before any reaping.
   */
  reapDeadNodes(): Promise<PresenceChange[]>;
  /**
   * Removes this node's counts (clean shutdown) and returns each changed total, as
   * `reapDeadNodes` does.
   */
  clearNode(): Promise<PresenceChange[]>;
}
