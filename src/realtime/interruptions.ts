import type { Message } from '../../protocol/models.js';
import type { Metrics } from '../metrics.js';
import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import type { MessageRelay } from './message-relay.js';
import { sessionRoom } from './rooms.js';
import type { TurnClock } from './turn-clock.js';

/** What announcing an interrupted turn needs. */
export interface InterruptionDeps {
  relay: MessageRelay;
  metrics: Metrics;
  turns: TurnClock;
  io: AppServer;
}

/**
 * After an interrupted turn (text or audio) was stored: the message goes out like any
 * other, and the first store of it also counts the interruption, stops the turn's clock
 * and tells every member, on every node, to stop generating.
 */
export function announceInterruption(
  context: InterruptionDeps,
  message: Message,
  duplicate: boolean,
  socket: AppSocket | null,
): void {
  context.relay.committed(message, duplicate, socket);
  if (duplicate) return;
  context.metrics.turnInterruptions.inc();
  context.turns.assistant(message.sessionId, 'interrupted');
  const streamId = String(message.metadata['streamId']);
  context.io
    .to(sessionRoom(message.sessionId))
    .emit('turn:interrupted', { sessionId: message.sessionId, streamId, messageId: message.id });
}
