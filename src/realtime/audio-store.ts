import { createHash } from 'node:crypto';
import type { JsonObject, Message, MessageRole } from '../../protocol/models.js';
import type { audioFormats } from '../../protocol/schemas.js';
import type { Logger } from '../logger.js';
import { audioObjectKey } from '../services/audio-keys.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import type { ObjectStore } from '../stores/objects/object-store.js';
import type { AudioStream } from './audio-streams.js';

/** What storing an audio turn needs: where the bytes go, where the message goes, and a log. */
export interface AudioStoreDeps {
  objects: ObjectStore;
  messages: MessageStore;
  logger: Logger;
}

/**
 * Stores a stream's audio under a key the server makes, then commits the message that
 * points to it. A duplicate (the key was used before) leaves that message as it was and
 * removes this copy of the audio.
 */
export async function storeAudio(
  context: AudioStoreDeps,
  stream: AudioStream,
  message: {
    senderId: string;
    clientMsgId: string;
    role: MessageRole;
    content: string;
    metadata?: JsonObject;
    chunks?: number;
  },
): Promise<{ message: Message; duplicate: boolean }> {
  const mimeType = stream.mimeType as keyof typeof audioFormats;
  const objectKey = audioObjectKey(stream.sessionId, stream.objectId, mimeType);
  const chunks = message.chunks === undefined ? stream.chunks : stream.chunks.slice(0, message.chunks);
  const body = Buffer.concat(chunks);
  // A cut stream is hashed again; a whole one uses its running hash (copied: a retry needs it again).
  const sha256 =
    message.chunks === undefined ? stream.sha256.copy().digest('hex') : createHash('sha256').update(body).digest('hex');
  // The audio is stored before the message that points to it is committed.
  await context.objects.put(objectKey, body, {
    contentType: mimeType,
    size: body.length,
    metadata: { sha256, 'session-id': stream.sessionId },
  });
  const stored = await context.messages.append({
    sessionId: stream.sessionId,
    senderId: message.senderId,
    clientMsgId: message.clientMsgId,
    role: message.role,
    content: message.content,
    contentType: 'audio',
    metadata: {
      ...(message.metadata ?? {}),
      objectKey,
      mimeType,
      bytes: body.length,
      sha256,
      ...(stream.sampleRate === undefined ? {} : { sampleRate: stream.sampleRate }),
    },
  });
  if (stored.duplicate && stored.message.metadata['objectKey'] !== objectKey) {
    // The key was used before: that message stands and this copy of the audio belongs to nothing.
    await context.objects
      .delete(objectKey)
      .catch((error: unknown) =>
        context.logger.warn(
          { err: error, objectKey },
          'could not remove audio of a duplicate audio:end; the reconciler will',
        ),
      );
  }
  return stored;
}
