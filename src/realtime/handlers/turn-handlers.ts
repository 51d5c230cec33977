import type { PayloadOf } from '../../../protocol/schemas.js';
import { AppError } from '../../errors/app-error.js';
import type { Heard } from '../../services/conversation.js';
import { callerOf, type RealtimeContext } from '../context.js';
import type { EventHandler } from '../dispatcher.js';

type Handlers = {
  'turn:interrupt': EventHandler<'turn:interrupt'>;
};

/** `turn:interrupt` (protocol v3): a barge-in cuts an open stream to what was heard and stores it at once. */
export function turnHandlers(context: RealtimeContext): Handlers {
  return {
    'turn:interrupt': async (payload, socket) => {
      const caller = callerOf(socket);
      await context.sessions.authorize(caller, payload.sessionId);
      const heard = heardOf(payload);
      const cut = await context.conversation.interruptStream(
        payload.sessionId,
        payload.streamId,
        caller.userId,
        heard,
        socket,
      );
      if (cut !== undefined) return { message: cut };
      const closed = await context.conversation.closedTurn(payload.sessionId, payload.streamId);
      if (closed !== undefined) return { message: closed };
      // Not a token stream: an assistant's speech, on this node or another.
      const spoken = await context.bargeIn.interrupt(socket, payload.sessionId, payload.streamId, heard);
      if (spoken === undefined)
        throw new AppError('NOT_FOUND', { message: 'no open or closed stream with this id in the session' });
      return { message: spoken };
    },
  };
}

function heardOf(payload: PayloadOf<'turn:interrupt'>): Heard {
  if (payload.heardChars !== undefined) return { chars: payload.heardChars };
  if (payload.heardIndex !== undefined) return { index: payload.heardIndex };
  return undefined;
}
