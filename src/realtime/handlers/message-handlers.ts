import { HISTORY_PAGE, type MessageRole } from '../../../protocol/models.js';
import type { PayloadOf } from '../../../protocol/schemas.js';
import { streamIdPattern } from '../../../protocol/schemas.js';
import { AppError } from '../../errors/app-error.js';
import { KeyedSerializer } from '../../util/keyed-serializer.js';
import { callerOf, type RealtimeContext } from '../context.js';
import type { AppSocket, EventHandler } from '../dispatcher.js';
import { sessionRoom } from '../rooms.js';

type Handlers = {
  'message:send': EventHandler<'message:send'>;
  'message:delta': EventHandler<'message:delta'>;
  'history:get': EventHandler<'history:get'>;
  'message:transcript': EventHandler<'message:transcript'>;
};

/** A `user` may only speak as `user`; services and admins may post any role. */
function roleFor(role: MessageRole | undefined, callerRole: string, fallback: MessageRole): MessageRole {
  const wanted = role ?? fallback;
  if (callerRole === 'user' && wanted !== 'user') {
    throw new AppError('FORBIDDEN', { message: `a user may only send role 'user'` });
  }
  return wanted;
}

/** `message:send`, `message:delta` and `history:get` (PROTOCOL section 4). */
export function messageHandlers(context: RealtimeContext): Handlers {
  const ordered = new KeyedSerializer();
  return {
    'message:send': async (payload, socket) => {
      const caller = callerOf(socket);
      const role = roleFor(payload.role, caller.role, 'user');
      await context.sessions.authorize(caller, payload.sessionId);
      const metadata = payload.metadata ?? {};
      const streamId = metadata['streamId'];
      if (streamId !== undefined && (typeof streamId !== 'string' || !streamIdPattern.test(streamId))) {
        throw new AppError('VALIDATION', {
          message: 'metadata.streamId is not a stream id',
          details: { field: 'metadata.streamId' },
        });
      }
      const message = await context.conversation.post(
        {
          sessionId: payload.sessionId,
          senderId: caller.userId,
          clientMsgId: payload.clientMsgId,
          role,
          content: payload.content,
          contentType: payload.contentType ?? 'text',
          metadata,
          ...(payload.tokensUsed === undefined ? {} : { tokensUsed: payload.tokensUsed }),
          ...(payload.processingTimeMs === undefined ? {} : { processingTimeMs: payload.processingTimeMs }),
          ...(streamId === undefined ? {} : { streamId }),
        },
        socket,
      );
      if (streamId !== undefined) context.closer.untrack(socket.id, payload.sessionId, streamId);
      return { message };
    },

    // One stream's deltas from one socket are handled in the order they arrived (clients
    // send them without waiting for acks), whatever each one waits for on the way.
    'message:delta': (payload, socket) =>
      ordered.run(`${socket.id}:${payload.sessionId}:${payload.streamId}`, () => delta(payload, socket)),

    'history:get': async ({ sessionId, beforeSeq, limit }, socket) => {
      await context.sessions.authorize(callerOf(socket), sessionId);
      return context.messages.pageBefore(sessionId, beforeSeq, limit ?? HISTORY_PAGE.default);
    },

    // A worker's speech recognition finishes after the user's audio is stored: the
    // transcript becomes the audio message's content, for history and every member.
    'message:transcript': async ({ messageId, transcript }, socket) => {
      if (socket.data.role !== 'service')
        throw new AppError('FORBIDDEN', { message: 'only services set transcripts (message:transcript)' });
      const found = await context.messages.getById(messageId);
      if (found === undefined) throw new AppError('NOT_FOUND', { message: 'message not found' });
      if (!context.relay.isJoined(socket, found.sessionId))
        throw new AppError('FORBIDDEN', { message: "join the message's session first" });
      if (found.contentType !== 'audio')
        throw new AppError('VALIDATION', {
          message: 'only audio messages take a transcript',
          details: { field: 'messageId' },
        });
      const message = await context.messages.setTranscript(found.sessionId, messageId, transcript);
      if (message === undefined) throw new AppError('NOT_FOUND', { message: 'message not found' });
      context.io
        .to(sessionRoom(message.sessionId))
        .emit('message:transcript', { sessionId: message.sessionId, messageId, transcript: message.content });
      return { message };
    },
  };

  async function delta(payload: PayloadOf<'message:delta'>, socket: AppSocket): Promise<Record<string, never>> {
    const caller = callerOf(socket);
    const role = roleFor(payload.role, caller.role, caller.role === 'user' ? 'user' : 'assistant');
    await context.sessions.authorize(caller, payload.sessionId);
    // A new stream becomes one stored message (final or interrupted): opening it counts
    // against the message:send limit, so fresh stream ids cannot store more than sends.
    if (payload.index === 0) await context.checkLimit('message:send', caller.userId);
    const outcome = await context.conversation.delta({
      sessionId: payload.sessionId,
      streamId: payload.streamId,
      userId: caller.userId,
      role,
      index: payload.index,
      delta: payload.delta,
      nodeId: context.nodeId,
      socketId: socket.id,
    });
    if (outcome === 'appended') {
      context.closer.track(socket.id, payload.sessionId, payload.streamId);
      socket.to(sessionRoom(payload.sessionId)).emit('message:delta', {
        sessionId: payload.sessionId,
        streamId: payload.streamId,
        index: payload.index,
        delta: payload.delta,
        role,
        userId: caller.userId,
      });
    }
    return {};
  }
}
