/**
 * Every name a node gives shared state: the keys of Redis and of the shared cache, the
 * pub/sub channels, the lock names, and the idempotency key of a stream's turn. One module,
 * so that no name is spelled twice (BullMQ's `queue-keys` in spirit). A deployment's
 * `REDIS_NAMESPACE` prefix is added by the connections, in front of all of them.
 *
 * One hash-tag rule: keys that one Lua script or one transaction touches together must sit
 * in one slot of a Redis Cluster, so they carry the same `{…}` tag, made by `tag()` and by
 * nothing else. Changing a name here renames live state: a rolling upgrade would see both.
 */

/** The Redis Cluster hash tag of a group of keys that are used together. */
export function tag(group: string): string {
  return `{${group}}`;
}

/** Keys in Redis (Lua scripts, sorted sets, counters) and in the shared cache. */
export const keys = {
  /** A sliding rate-limit window (sorted set, `sliding-window-1.lua`). */
  rateLimit: (key: string) => `vh:rl:${key}`,
  /** The prefix of a fixed-window limit's counters (rate-limiter-flexible adds the key). */
  fixedWindow: (name: string, limit: number, windowMs: number) => `vh:fixed:${name}:${limit}:${windowMs}`,
  /** Every node that has heart-beaten, with when (sorted set). */
  nodes: 'vh:nodes',
  /** A node's heartbeat; expires when the node stops. */
  nodeAlive: (nodeId: string) => `vh:node-alive:${nodeId}`,
  /** The sessions a node has connections in (for cleaning up after it dies). */
  nodeSessions: (nodeId: string) => `vh:node-sessions:${nodeId}`,
  /** Who is connected to a session, with how many connections. */
  presence: (sessionId: string) => `vh:presence:${sessionId}`,
  /** The open user turn of a session, and its recent turns (one tag: the script reads both). */
  turnCurrent: (sessionId: string) => `vh:turn:${tag(sessionId)}`,
  turnHistory: (sessionId: string) => `vh:turns:${tag(sessionId)}`,
  /** The open token streams of one bucket (one tag with their buffers). */
  openStreams: (bucket: number) => `vh:streams:${tag(`vh-streams-${bucket}`)}`,
  /** A token stream's state, text, delta ends and closing mark, under its bucket's tag. */
  stream: (bucket: number, sessionId: string, streamId: string) =>
    `vh:stream:${tag(`vh-streams-${bucket}`)}:${sessionId}:${streamId}`,
  streamText: (bucket: number, sessionId: string, streamId: string) =>
    `vh:stream-text:${tag(`vh-streams-${bucket}`)}:${sessionId}:${streamId}`,
  streamEnds: (bucket: number, sessionId: string, streamId: string) =>
    `vh:stream-ends:${tag(`vh-streams-${bucket}`)}:${sessionId}:${streamId}`,
  streamClosed: (bucket: number, sessionId: string, streamId: string) =>
    `vh:stream-closed:${tag(`vh-streams-${bucket}`)}:${sessionId}:${streamId}`,
  /** Redlock's key of a lock. */
  lock: (resource: string) => `vh:lock:${resource}`,
  /** The fencing-token counter of a lock. */
  fence: (resource: string) => `vh:fence:${resource}`,
  /** A session's cached row. */
  session: (sessionId: string) => `vh:session:${sessionId}`,
  /** A user's cached access (status, roles, version). */
  user: (userId: string) => `vh:user:${userId}`,
  /** A revoked token family (a login or an API key), until its access tokens expire. */
  familyRevoked: (familyId: string) => `vh:family-revoked:${familyId}`,
  /** An assistant's audio stream that is open on some node (a barge-in elsewhere can cut it). */
  audioOpen: (sessionId: string, streamId: string) => `vh:audio-open:${sessionId}:${streamId}`,
  /** Who streams an open audio stream of a session (any speaker): a stream id is open once per session, cluster-wide. */
  audioStream: (sessionId: string, streamId: string) => `vh:audio-stream:${sessionId}:${streamId}`,
} as const;

/** Pub/sub channels (sharded ones where the name carries a session). */
export const channels = {
  /** Committed messages of a session, to every node that delivers it. */
  messages: (sessionId: string) => `vh:msg:${sessionId}`,
  /** Changes of a vector collection kept in PostgreSQL (nodes reload their copy). */
  vectors: (collection: string) => `vh:vectors:${collection}`,
  /** A session's row changed: drop cached copies. */
  sessionChanged: 'vh:session-changed',
  /** A user's access changed: drop cached copies. */
  userChanged: 'vh:user-changed',
  /** Rate-limit configuration changed. */
  config: 'vh:config',
  /** End sockets of a room, on every node. */
  disconnect: 'vh:disconnect',
  /** Pushes from services to users' sockets and sessions' members. */
  notify: 'vh:notify',
  /** A barge-in on an assistant's audio stream held by some node. */
  audioInterrupt: 'vh:audio-interrupt',
  /** Assistant dispatch changed workers' sessions: their nodes look again, and tell them. */
  agents: 'vh:agents',
  /** A socket began listening to a session live: nodes streaming in it say which streams are open. */
  audioOpenStreams: 'vh:audio-open',
  /** A node started (its id and this run's boot id): streams of its earlier run ended with it. */
  audioNodeBoot: 'vh:audio-boot',
  /** Live audio of a session (binary: stream starts, frames, ends), to every node with a live listener of it. */
  audio: (sessionId: string) => `vh:audio:${sessionId}`,
} as const;

/** Socket.IO rooms, on every node through the adapter. */
export const rooms = {
  /** Every socket that joined a session. */
  session: (sessionId: string) => `session:${sessionId}`,
  /** Every socket of one user. */
  user: (userId: string) => `user:${userId}`,
  /** Every socket opened with tokens of one login (refresh-token family) or API key. */
  family: (familyId: string) => `family:${familyId}`,
} as const;

/** Cluster lock names. */
export const locks = {
  /** Committing an abandoned token stream. */
  stream: (sessionId: string, streamId: string) => `stream:${sessionId}:${streamId}`,
} as const;

/**
 * The idempotency key (`clientMsgId`) of the message that closes a stream: its final text,
 * its interrupted or abandoned turn, or a cut voice stream. Every path stores under it, so a
 * stream's turn is one message whichever comes first.
 */
export function streamMessageKey(streamId: string): string {
  return `stream:${streamId}`;
}
