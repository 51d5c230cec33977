import type { Message } from '../../../protocol/models.js';
import type { PayloadOf } from '../../../protocol/schemas.js';
import { AppError } from '../../errors/app-error.js';
import type { InterruptedStream } from '../../stores/streams/stream-buffer.js';
import { callerOf, type RealtimeContext } from '../context.js';
import type { EventHandler } from '../dispatcher.js';
import { announceInterruption } from '../interruptions.js';
import { streamMessageKey } from '../stream-closer.js';

type Handlers = {
  'turn:interrupt': EventHandler<'turn:interrupt'>;
};

/** What the listener heard, as `metadata.heard` records it. */
type Heard = { chars: number } | { index: number } | undefined;

/**
 * The stream's text up to what was heard: `heardChars` Unicode code points, or every delta
 * up to and including `heardIndex`; all of it when the client says neither.
 */
export function heardText(stream: Pick<InterruptedStream, 'text' | 'deltaEnds'>, heard: Heard): string {
  if (heard === undefined) return stream.text;
  if ('chars' in heard) return Array.from(stream.text).slice(0, heard.chars).join('');
  const end = stream.deltaEnds[heard.index];
  if (end === undefined) return stream.text;
  return Buffer.from(stream.text, 'utf8').subarray(0, end).toString('utf8');
}

/** `turn:interrupt` (protocol v3): a barge-in cuts an open stream to what was heard and stores it at once. */
export function turnHandlers(context: RealtimeContext): Handlers {
  return {
    'turn:interrupt': async (payload, socket) => {
      const caller = callerOf(socket);
      await context.sessions.authorize(caller, payload.sessionId);
      const heard = heardOf(payload);
      const stream = await context.streams.interrupt(payload.sessionId, payload.streamId);
      if (stream === undefined) {
        const closed = await closedTurn(context, payload.sessionId, payload.streamId);
        if (closed !== undefined) return { message: closed };
        // Not a token stream: an assistant's speech, on this node or another.
        const cut = await context.bargeIn.interrupt(socket, payload.sessionId, payload.streamId, heard);
        if (cut === undefined)
          throw new AppError('NOT_FOUND', { message: 'no open or closed stream with this id in the session' });
        return { message: cut };
      }
      // Stored under the stream's key: a racing barge-in, the owner's final message:send and
      // the interrupted-turn sweep all end up with this one message.
      const { message, duplicate } = await context.messages.append({
        sessionId: payload.sessionId,
        senderId: stream.userId,
        clientMsgId: streamMessageKey(payload.streamId),
        role: stream.role,
        content: heardText(stream, heard),
        contentType: 'text',
        metadata: {
          streamId: payload.streamId,
          interrupted: true,
          interruptedBy: caller.userId,
          ...(heard === undefined ? {} : { heard }),
        },
      });
      await context.streams.interrupted(payload.sessionId, payload.streamId, message.id);
      announceInterruption(context, message, duplicate, socket);
      return { message };
    },
  };
}

function heardOf(payload: PayloadOf<'turn:interrupt'>): Heard {
  if (payload.heardChars !== undefined) return { chars: payload.heardChars };
  if (payload.heardIndex !== undefined) return { index: payload.heardIndex };
  return undefined;
}

/** A stream that is no longer open: the message that closed it, if any. */
async function closedTurn(context: RealtimeContext, sessionId: string, streamId: string): Promise<Message | undefined> {
  const interruptedBy = await context.streams.interruptedBy(sessionId, streamId);
  return (
    (interruptedBy === undefined ? undefined : await context.messages.getById(interruptedBy)) ??
    (await context.messages.getByStream(sessionId, streamId))
  );
}
