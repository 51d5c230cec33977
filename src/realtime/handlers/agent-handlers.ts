import { DEFAULT_AGENT_CAPACITY } from '../../../protocol/schemas.js';
import { AppError } from '../../errors/app-error.js';
import type { RealtimeContext } from '../context.js';
import type { EventHandler } from '../dispatcher.js';

type Handlers = {
  'agent:register': EventHandler<'agent:register'>;
  'agent:release': EventHandler<'agent:release'>;
};

/** `agent:*` events (protocol v7): workers of an agent register, and hand sessions back. */
export function agentHandlers(context: RealtimeContext): Handlers {
  return {
    'agent:register': async ({ agent, capacity }, socket) => {
      if (socket.data.role !== 'service')
        throw new AppError('FORBIDDEN', { message: 'only services serve agents (agent:register)' });
      return context.agentWorkers.register(socket, agent, capacity ?? DEFAULT_AGENT_CAPACITY);
    },

    'agent:release': async ({ sessionId }, socket) => {
      await context.agentWorkers.release(socket, sessionId);
      return {};
    },
  };
}
