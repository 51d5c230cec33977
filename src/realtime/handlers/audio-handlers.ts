import { audioFormats } from '../../../protocol/schemas.js';
import { AppError } from '../../errors/app-error.js';
import { audioPrefix } from '../../services/audio-keys.js';
import { OPAQUE_CONTENT_TYPE } from '../../stores/objects/object-store.js';
import { callerOf, type RealtimeContext } from '../context.js';
import type { EventHandler } from '../dispatcher.js';

type Handlers = {
  'audio:start': EventHandler<'audio:start'>;
  'audio:chunk': EventHandler<'audio:chunk'>;
  'audio:end': EventHandler<'audio:end'>;
  'audio:abort': EventHandler<'audio:abort'>;
  'audio:url': EventHandler<'audio:url'>;
};

function isAudioMimeType(value: unknown): value is keyof typeof audioFormats {
  return typeof value === 'string' && Object.hasOwn(audioFormats, value);
}

/** `audio:start/chunk/end/abort/url` (PROTOCOL section 5). */
export function audioHandlers(context: RealtimeContext): Handlers {
  return {
    'audio:start': async (payload, socket) => {
      await context.sessions.authorize(callerOf(socket), payload.sessionId);
      await context.audio.open(socket.id, socket.data.userId, socket.data.role === 'user' ? 'user' : 'assistant', {
        sessionId: payload.sessionId,
        streamId: payload.streamId,
        mimeType: payload.mimeType,
        ...(payload.sampleRate === undefined ? {} : { sampleRate: payload.sampleRate }),
      });
      // A worker's speech can be cut by a barge-in from any node.
      if (socket.data.role !== 'user') await context.bargeIn.opened(payload.sessionId, payload.streamId);
      return {};
    },

    'audio:chunk': async ({ streamId, index, data }, socket) => {
      const opened = context.audio.chunk(socket.id, streamId, index, data);
      if (opened !== undefined && socket.data.role !== 'user') context.turns.assistant(opened, 'firstAudio');
      return { received: index };
    },

    'audio:end': async ({ streamId, clientMsgId, transcript }, socket) => {
      const caller = callerOf(socket);
      const stream = context.audio.take(socket.id, streamId);
      const cut = context.audio.interruptedMessage(socket.id, streamId);
      if (stream === undefined && cut !== undefined) {
        // A barge-in stored the stream: its end answers that message.
        const message = await context.messages.getById(cut);
        if (message !== undefined) return { message };
      }
      if (stream === undefined) {
        // A resent end of a stream that was stored: answer with its message.
        const sessionId = context.audio.endedSession(socket.id, streamId);
        const message =
          sessionId === undefined
            ? undefined
            : await context.messages.getByClientMsgId(sessionId, caller.userId, clientMsgId);
        if (message === undefined)
          throw new AppError('NOT_FOUND', { message: 'no such audio stream (not started, or discarded)' });
        return { message };
      }
      try {
        await context.sessions.authorize(caller, stream.sessionId);
        const message = await context.conversation.storeAudio(
          stream,
          { userId: caller.userId, role: caller.role === 'user' ? 'user' : 'assistant' },
          clientMsgId,
          transcript ?? '',
          socket,
        );
        context.audio.markEnded(stream, message.id);
        context.bargeIn.closed(stream);
        return { message };
      } catch (error) {
        // Nothing committed: the client may retry the same end, which stores the same
        // bytes under the same server-made key.
        context.audio.restore(stream);
        throw error;
      }
    },

    'audio:abort': async ({ streamId }, socket) => {
      // Nothing open under this id (ended, discarded, a resent abort) is no error.
      context.audio.abort(socket.id, streamId);
      return {};
    },

    'audio:url': async ({ messageId }, socket) => {
      const message = await context.messages.getById(messageId);
      if (message === undefined) throw new AppError('NOT_FOUND', { message: 'message not found' });
      await context.sessions.authorize(callerOf(socket), message.sessionId);
      const objectKey = message.metadata['objectKey'];
      const mimeType = message.metadata['mimeType'];
      // Only audio the server stored for this very session: a key anywhere else was not
      // written by the audio path, whatever the message says.
      if (
        message.contentType !== 'audio' ||
        typeof objectKey !== 'string' ||
        !objectKey.startsWith(audioPrefix(message.sessionId))
      ) {
        throw new AppError('VALIDATION', { message: 'the message has no audio', details: { field: 'messageId' } });
      }
      const extension = objectKey.slice(objectKey.lastIndexOf('.') + 1);
      const { url, expiresAt } = await context.objects.presignedGetUrl(objectKey, context.audioUrlTtlSeconds, {
        filename: `${message.id}.${extension}`,
        contentType: isAudioMimeType(mimeType) ? mimeType : OPAQUE_CONTENT_TYPE,
      });
      return { url, expiresAt: expiresAt.toISOString() };
    },
  };
}
