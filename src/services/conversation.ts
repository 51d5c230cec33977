import { createHash, type Hash } from 'node:crypto';
import type { JsonObject, Message, MessageRole } from '../../protocol/models.js';
import type { audioFormats } from '../../protocol/schemas.js';
import { AppError, hasReason } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { AppendInput, AppendResult, MessageStore } from '../stores/messages/message-store.js';
import { streamMessageKey } from '../stores/names.js';
import type { ObjectStore } from '../stores/objects/object-store.js';
import type { DeltaInput, InterruptedStream, StreamBuffer } from '../stores/streams/stream-buffer.js';
import { streamErrors } from '../stores/streams/stream-errors.js';
import { audioObjectKey } from './audio-keys.js';
import type { TurnClock } from './turn-clock.js';

/**
 * Where committed messages go: every member of the session, on every node. The realtime
 * relay implements it; `Origin` is the connection a message came from, handed back
 * untouched (it holds its own message from the ack and is not sent it again).
 */
export interface ConversationDelivery<Origin> {
  /** A message was committed, or found committed before (`duplicate`: announced then). */
  committed(message: Message, duplicate: boolean, origin: Origin | null): void;
  /** A barge-in stored `message` as the interrupted turn of its stream: tell every member to stop generating. */
  interrupted(message: Message): void;
}

/** What a barge-in says the listener heard: Unicode code points, or every delta (or audio chunk) up to an index. */
export type Heard = { chars: number } | { index: number } | undefined;

/** A message as a sender posts it (`message:send`), after the caller was authorised. */
export interface PostInput extends AppendInput {
  /** The stream this message closes as its final text (`metadata.streamId`). */
  streamId?: string;
}

/** A voice stream received whole (or up to a cut), ready to be stored as one audio message. */
export interface AudioTurn {
  sessionId: string;
  streamId: string;
  /** The stream's owner. */
  userId: string;
  /** Made by the server when the stream opened: names the stored object. */
  objectId: string;
  mimeType: string;
  sampleRate: number | undefined;
  chunks: Buffer[];
  /** The running hash of every chunk (copied before use: a retry needs it again). */
  sha256: Hash;
}

/** What the conversation needs. */
export interface ConversationOptions<Origin> {
  messages: MessageStore;
  streams: StreamBuffer;
  objects: ObjectStore;
  turns: TurnClock;
  delivery: ConversationDelivery<Origin>;
  metrics: Metrics;
  logger: Logger;
}

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

/**
 * The one owner of "commit a turn of the conversation": a posted message, the final text
 * of a stream, a stream interrupted by a barge-in or abandoned by its socket, a voice
 * stream whole or cut. Each is appended under its idempotency key (a stream's turn always
 * under `streamMessageKey`, so that whichever path comes first is its one message), the
 * turn clock is told when the assistant answered, and the message goes out through the
 * delivery port: handlers only parse, authorise, call and answer.
 */
export class Conversation<Origin> {
  constructor(private readonly options: ConversationOptions<Origin>) {}

  /**
   * Commits a posted message. One that closes a stream takes the stream's key (a final
   * message racing a barge-in or an abandoned-stream commit stays one message), is refused
   * when the open stream is another user's, and drops the stream's buffer.
   */
  async post(input: PostInput, origin: Origin): Promise<Message> {
    const { streamId, ...message } = input;
    let clientMsgId = input.clientMsgId;
    if (streamId !== undefined) {
      // PostgreSQL is the truth: with Redis unreachable the send still commits (the key is
      // the sender's own, so skipping the owner check cannot touch another user's turn).
      const open = await this.options.streams.get(input.sessionId, streamId).catch((error: unknown) => {
        this.options.logger.warn(
          { err: error, sessionId: input.sessionId, streamId },
          'could not read an open stream; committing the final message anyway',
        );
        return undefined;
      });
      if (open !== undefined && open.userId !== input.senderId)
        throw new AppError('FORBIDDEN', { message: 'the stream belongs to another user' });
      clientMsgId = streamMessageKey(streamId);
    }
    const { message: stored, duplicate } = await this.options.messages.append({ ...message, clientMsgId });
    if (streamId !== undefined) {
      // Left behind, the buffer expires; a sweep that commits it finds this message under the same key.
      await this.options.streams
        .remove(input.sessionId, streamId)
        .catch((error: unknown) =>
          this.options.logger.warn(
            { err: error, sessionId: input.sessionId, streamId },
            'could not drop a closed stream buffer',
          ),
        );
    }
    this.answered(stored, duplicate, origin);
    return stored;
  }

  /**
   * Adds a delta to an open token stream (in index order; a resent index is `duplicate`).
   * The first delta of an assistant's stream stops its turn's first-delta clock. A stream a
   * barge-in cut is refused CONFLICT naming its stored turn (looked up when the cut came a
   * moment ago and is still being stored).
   */
  async delta(input: DeltaInput): Promise<'appended' | 'duplicate'> {
    const outcome = await this.options.streams.append(input).catch(async (error: unknown) => {
      if (hasReason(error, 'stream_interrupted_storing')) {
        const stored = await this.options.messages.getByStream(input.sessionId, input.streamId);
        if (stored !== undefined) throw streamErrors.interrupted(stored.id);
      }
      throw error;
    });
    if (outcome === 'appended' && input.index === 0 && input.role === 'assistant')
      this.options.turns.assistant(input.sessionId, 'firstDelta');
    return outcome;
  }

  /**
   * A barge-in on a token stream: cuts it to what was heard and stores that at once as the
   * interrupted turn. Undefined when no such stream is open (it may have closed, or be an
   * audio stream: see `closedTurn`).
   */
  async interruptStream(
    sessionId: string,
    streamId: string,
    interruptedBy: string,
    heard: Heard,
    origin: Origin,
  ): Promise<Message | undefined> {
    const stream = await this.options.streams.interrupt(sessionId, streamId);
    if (stream === undefined) return undefined;
    const { message, duplicate } = await this.options.messages.append({
      sessionId,
      senderId: stream.userId,
      clientMsgId: streamMessageKey(streamId),
      role: stream.role,
      content: heardText(stream, heard),
      contentType: 'text',
      metadata: interruptedMetadata(streamId, interruptedBy, heard),
    });
    await this.options.streams.interrupted(sessionId, streamId, message.id);
    this.announceInterruption(message, duplicate, origin);
    return message;
  }

  /** A stream that is no longer open: the message that closed it, if any. */
  async closedTurn(sessionId: string, streamId: string): Promise<Message | undefined> {
    const interruptedBy = await this.options.streams.interruptedBy(sessionId, streamId);
    return (
      (interruptedBy === undefined ? undefined : await this.options.messages.getById(interruptedBy)) ??
      (await this.options.messages.getByStream(sessionId, streamId))
    );
  }

  /**
   * Commits the text an abandoned stream gathered (its socket went away and nobody continued
   * it, or it idled) as an interrupted turn, and drops the buffer. A stream that cannot be
   * stored (session gone, text refused) is dropped; any other failure is thrown, for the
   * sweep to retry.
   */
  async abandonStream(sessionId: string, streamId: string): Promise<void> {
    try {
      const state = await this.options.streams.get(sessionId, streamId);
      if (state !== undefined) {
        const { message, duplicate } = await this.options.messages.append({
          sessionId,
          // The stream's owner: a final message:send from them shares this key.
          senderId: state.userId,
          clientMsgId: streamMessageKey(streamId),
          role: state.role,
          content: state.text,
          contentType: 'text',
          metadata: { streamId, interrupted: true },
        });
        this.options.delivery.committed(message, duplicate, null);
        this.options.logger.debug({ sessionId, streamId, seq: message.seq, duplicate }, 'interrupted turn committed');
      }
      await this.options.streams.remove(sessionId, streamId);
    } catch (error) {
      if (!(error instanceof AppError && error.status < 500)) throw error;
      // The session is gone or the text cannot be stored: nothing to keep.
      await this.options.streams.remove(sessionId, streamId).catch(() => undefined);
      this.options.logger.warn(
        { err: error, sessionId, streamId },
        'dropped an interrupted stream that cannot be stored',
      );
    }
  }

  /** Stores a whole voice stream as its sender's audio message (`audio:end`). */
  async storeAudio(
    stream: AudioTurn,
    sender: { userId: string; role: MessageRole },
    clientMsgId: string,
    transcript: string,
    origin: Origin,
  ): Promise<Message> {
    const { message, duplicate } = await this.storeAudioObject(stream, {
      senderId: sender.userId,
      clientMsgId,
      role: sender.role,
      content: transcript,
      // A barge-in that comes after the end finds the stored turn by it.
      metadata: { streamId: stream.streamId },
    });
    this.answered(message, duplicate, origin);
    return message;
  }

  /**
   * A barge-in on an assistant's voice stream: stores the audio received up to the chunk
   * heard as the interrupted turn, under the stream's key, and tells every member.
   */
  async storeInterruptedAudio(
    stream: AudioTurn,
    interruptedBy: string,
    heardIndex: number | undefined,
    origin: Origin | null,
  ): Promise<Message> {
    const heard = heardIndex === undefined ? undefined : { index: heardIndex };
    const { message, duplicate } = await this.storeAudioObject(stream, {
      senderId: stream.userId,
      clientMsgId: streamMessageKey(stream.streamId),
      role: 'assistant',
      content: '',
      metadata: interruptedMetadata(stream.streamId, interruptedBy, heard),
      ...(heardIndex === undefined ? {} : { chunks: heardIndex + 1 }),
    });
    this.announceInterruption(message, duplicate, origin);
    return message;
  }

  /** A committed message reaches everyone; the first store of an assistant's answer stops its turn's clock. */
  private answered(message: Message, duplicate: boolean, origin: Origin | null): void {
    if (!duplicate && message.role === 'assistant') this.options.turns.assistant(message.sessionId, 'final');
    this.options.delivery.committed(message, duplicate, origin);
  }

  /**
   * After an interrupted turn (text or audio) was stored: the message goes out like any
   * other, and the first store of it also counts the interruption, stops the turn's clock
   * and tells every member, on every node, to stop generating.
   */
  private announceInterruption(message: Message, duplicate: boolean, origin: Origin | null): void {
    this.options.delivery.committed(message, duplicate, origin);
    if (duplicate) return;
    this.options.metrics.turnInterruptions.inc();
    this.options.turns.assistant(message.sessionId, 'interrupted');
    this.options.delivery.interrupted(message);
  }

  /**
   * Stores a stream's audio under a key the server makes, then commits the message that
   * points to it. A duplicate (the key was used before) leaves that message as it was and
   * removes this copy of the audio.
   */
  private async storeAudioObject(
    stream: AudioTurn,
    message: {
      senderId: string;
      clientMsgId: string;
      role: MessageRole;
      content: string;
      metadata: JsonObject;
      chunks?: number;
    },
  ): Promise<AppendResult> {
    const mimeType = stream.mimeType as keyof typeof audioFormats;
    const objectKey = audioObjectKey(stream.sessionId, stream.objectId, mimeType);
    const chunks = message.chunks === undefined ? stream.chunks : stream.chunks.slice(0, message.chunks);
    const body = Buffer.concat(chunks);
    // A cut stream is hashed again; a whole one uses its running hash (copied: a retry needs it again).
    const sha256 =
      message.chunks === undefined
        ? stream.sha256.copy().digest('hex')
        : createHash('sha256').update(body).digest('hex');
    // The audio is stored before the message that points to it is committed.
    await this.options.objects.put(objectKey, body, {
      contentType: mimeType,
      size: body.length,
      metadata: { sha256, 'session-id': stream.sessionId },
    });
    const stored = await this.options.messages.append({
      sessionId: stream.sessionId,
      senderId: message.senderId,
      clientMsgId: message.clientMsgId,
      role: message.role,
      content: message.content,
      contentType: 'audio',
      metadata: {
        ...message.metadata,
        objectKey,
        mimeType,
        bytes: body.length,
        sha256,
        ...(stream.sampleRate === undefined ? {} : { sampleRate: stream.sampleRate }),
      },
    });
    if (stored.duplicate && stored.message.metadata['objectKey'] !== objectKey) {
      // The key was used before: that message stands and this copy of the audio belongs to nothing.
      await this.options.objects
        .delete(objectKey)
        .catch((error: unknown) =>
          this.options.logger.warn(
            { err: error, objectKey },
            'could not remove audio of a duplicate audio:end; the reconciler will',
          ),
        );
    }
    return stored;
  }
}

/** The metadata of a turn a barge-in cut: who cut it and what they heard. */
function interruptedMetadata(streamId: string, interruptedBy: string, heard: Heard): JsonObject {
  return { streamId, interrupted: true, interruptedBy, ...(heard === undefined ? {} : { heard }) };
}
