import type { RealtimeContext } from './context.js';
import { sessionRoom } from './rooms.js';

/**
 * What every node does on a timer: heart-beat (so others know it is alive), remove the
 * presence of nodes that stopped heart-beating and tell their rooms, and sweep open
 * streams for interrupted turns. Returns a function that stops it and removes this node's
 * presence (clean shutdown).
 */
export function startClusterDuties(context: RealtimeContext, everyMs: number): () => Promise<void> {
  const { presence, io, logger, closer } = context;
  const beat = () => presence.heartbeat().catch((error: unknown) => logger.warn({ err: error }, 'heartbeat failed'));
  void beat();
  // The heartbeat has its own timer: a long sweep must never make this node look dead.
  const heartbeat = setInterval(() => void beat(), everyMs);
  heartbeat.unref();
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void (async () => {
      try {
        for (const { sessionId, entry } of await presence.reapDeadNodes()) {
          io.to(sessionRoom(sessionId)).emit('presence', { sessionId, ...entry });
        }
        await closer.sweep();
      } catch (error) {
        logger.warn({ err: error }, 'cluster duties failed; retrying');
      } finally {
        running = false;
      }
    })();
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    clearInterval(heartbeat);
    for (const { sessionId, entry } of await presence.clearNode().catch(() => [])) {
      io.to(sessionRoom(sessionId)).emit('presence', { sessionId, ...entry });
    }
  };
}
