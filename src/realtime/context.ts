import type { PresenceEntry } from '../../protocol/events.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { AgentDispatch } from '../services/agents.js';
import type { Conversation } from '../services/conversation.js';
import type { Erasure } from '../services/erasure.js';
import type { Notifier } from '../services/notifier.js';
import type { Caller, SessionService } from '../services/session-service.js';
import type { TurnClock } from '../services/turn-clock.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import type { ObjectStore } from '../stores/objects/object-store.js';
import type { PresenceStore } from '../stores/presence/presence-store.js';
import type { StreamBuffer } from '../stores/streams/stream-buffer.js';
import type { AgentWorkers } from './agent-workers.js';
import type { AudioBargeIn } from './audio-barge-in.js';
import type { AudioStreams } from './audio-streams.js';
import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import type { LiveAudio } from './live-audio.js';
import type { MessageRelay } from './message-relay.js';
import { sessionRoom } from './rooms.js';
import type { StreamCloser } from './stream-closer.js';

/** Everything the event handlers share. */
export interface RealtimeContext {
  io: AppServer;
  nodeId: string;
  sessions: SessionService;
  messages: MessageStore;
  /** Commits every turn: posted, streamed, interrupted, spoken. */
  conversation: Conversation<AppSocket>;
  relay: MessageRelay;
  presence: PresenceStore;
  streams: StreamBuffer;
  closer: StreamCloser;
  objects: ObjectStore;
  /** Deleting sessions with their messages and audio. */
  erasure: Erasure;
  /** Pushes to users and sessions on every node. */
  notifier: Notifier;
  /** Which worker of its agent has each session (protocol v7). */
  agents: AgentDispatch;
  /** The agent workers whose sockets are on this node. */
  agentWorkers: AgentWorkers;
  audio: AudioStreams;
  /** Audio streams relayed live to the sockets that joined with `liveAudio`. */
  liveAudio: LiveAudio;
  audioUrlTtlSeconds: number;
  /** Counts one event of a user against a limit; throws RATE_LIMITED past it. */
  checkLimit: (event: 'message:send', userId: string) => Promise<void>;
  /** Barge-in on an assistant's audio stream, wherever it streams. */
  bargeIn: AudioBargeIn;
  /** Turn latency: the end of user turns and the assistant's answers. */
  turns: TurnClock;
  metrics: Metrics;
  logger: Logger;
}

/** The authenticated caller behind a socket. */
export function callerOf(socket: AppSocket): Caller {
  return { userId: socket.data.userId, role: socket.data.role, ip: socket.data.ip };
}

/**
 * Counts a socket in or out of a session's presence and tells the room (every node);
 * returns how to learn who is present after the change.
 */
export async function changePresence(
  context: RealtimeContext,
  socket: AppSocket,
  sessionId: string,
  delta: 1 | -1,
): Promise<() => Promise<PresenceEntry[]>> {
  const { userId, role } = socket.data;
  const { connections, present } = await context.presence.change(sessionId, userId, role, delta);
  context.io.to(sessionRoom(sessionId)).emit('presence', { sessionId, userId, role, connections });
  return present;
}
