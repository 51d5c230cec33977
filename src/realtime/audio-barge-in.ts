import type { Message } from '../../protocol/models.js';
import { AppError } from '../errors/app-error.js';
import type { Logger } from '../logger.js';
import type { Conversation } from '../services/conversation.js';
import type { Cache } from '../stores/cache/cache.js';
import type { MessageStore } from '../stores/messages/message-store.js';
import { channels, keys } from '../stores/names.js';
import { type PubSub, subscribeJson } from '../stores/pubsub/pubsub.js';
import { sleep } from '../util/timeout.js';
import type { AudioStream, AudioStreams } from './audio-streams.js';
import type { AppSocket } from './dispatcher.js';

const CHANNEL = channels.audioInterrupt;
const openKey = keys.audioOpen;
/** An open assistant audio stream is announced this long (a stream silent for 60 s is discarded anyway). */
const OPEN_TTL_SECONDS = 3_600;
/** How long a barge-in waits for the node that holds the audio to store it. */
const ANSWER_WAIT_MS = 3_000;

/** What a barge-in needs: the open-stream marks, the channel, this node's audio, and where its turn is stored. */
export interface AudioBargeInDeps {
  cache: Cache;
  pubsub: PubSub;
  audio: AudioStreams;
  conversation: Conversation<AppSocket>;
  /** Where a barge-in on another node's stream finds the turn that node stored. */
  messages: MessageStore;
  logger: Logger;
}

interface CutRequest {
  sessionId: string;
  streamId: string;
  interruptedBy: string;
  heardIndex?: number;
}

/**
 * Barge-in on an assistant's speech (`audio:*` from a service): the audio lives in the
 * memory of the node whose socket streams it, so a `turn:interrupt` elsewhere asks every
 * node over pub/sub, and the one holding the stream stores the audio received so far (up
 * to the chunk heard) as an interrupted audio message, under the stream's key, exactly
 * once. Open assistant streams are announced in the shared cache, so that a barge-in on an
 * unknown stream is answered at once.
 */
export class AudioBargeIn {
  private unsubscribe: (() => Promise<void>) | undefined;
  private readonly cache: Cache;
  private readonly pubsub: PubSub;
  private readonly logger: Logger;

  constructor(private readonly context: AudioBargeInDeps) {
    this.cache = context.cache;
    this.pubsub = context.pubsub;
    this.logger = context.logger;
  }

  /** Follows barge-ins from every node. */
  async start(): Promise<void> {
    const context = this.context;
    this.unsubscribe = await subscribeJson<CutRequest>(this.pubsub, CHANNEL, (request) => {
      const stream = context.audio.find(request.sessionId, request.streamId);
      if (stream === undefined) return;
      void this.cut(stream, request.interruptedBy, request.heardIndex, null).catch((error: unknown) =>
        this.logger.warn(
          { err: error, sessionId: request.sessionId, streamId: request.streamId },
          'storing an interrupted audio stream failed',
        ),
      );
    });
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.().catch(() => undefined);
  }

  /** An assistant's audio stream opened. */
  async opened(sessionId: string, streamId: string): Promise<void> {
    await this.cache.set(openKey(sessionId, streamId), '1', OPEN_TTL_SECONDS).catch(() => undefined);
  }

  /** An audio stream was stored (or cut): no longer open. */
  closed(stream: AudioStream | undefined): void {
    if (stream?.speaker === 'assistant')
      void this.cache.del(openKey(stream.sessionId, stream.streamId)).catch(() => undefined);
  }

  /**
   * Cuts an assistant's audio stream of the session, wherever it streams, and answers the
   * stored message; undefined when no such stream is open.
   */
  async interrupt(
    socket: AppSocket,
    sessionId: string,
    streamId: string,
    heard: { chars: number } | { index: number } | undefined,
  ): Promise<Message | undefined> {
    const context = this.context;
    const local = context.audio.find(sessionId, streamId);
    const open =
      local !== undefined || (await this.cache.get(openKey(sessionId, streamId)).catch(() => undefined)) !== undefined;
    if (!open) return undefined;
    if (heard !== undefined && 'chars' in heard) {
      throw new AppError('VALIDATION', {
        message: 'an audio stream is cut at the last chunk heard (heardIndex), not at characters',
        details: { field: 'heardChars' },
      });
    }
    const heardIndex = heard?.index;
    if (local !== undefined) return this.cut(local, socket.data.userId, heardIndex, socket);
    const request: CutRequest = {
      sessionId,
      streamId,
      interruptedBy: socket.data.userId,
      ...(heardIndex === undefined ? {} : { heardIndex }),
    };
    await this.pubsub.publish(CHANNEL, JSON.stringify(request));
    const deadline = Date.now() + ANSWER_WAIT_MS;
    while (Date.now() < deadline) {
      const stored = await context.messages.getByStream(sessionId, streamId);
      if (stored !== undefined) return stored;
      await sleep(50);
    }
    throw new AppError('UNAVAILABLE', {
      message: 'the node receiving this audio did not store it in time; retry',
      retryAfterMs: 1_000,
    });
  }

  /** Stores the audio received so far (up to the chunk heard) as the stream's interrupted turn. */
  private async cut(
    stream: AudioStream,
    interruptedBy: string,
    heardIndex: number | undefined,
    socket: AppSocket | null,
  ): Promise<Message> {
    const context = this.context;
    context.audio.take(stream.socketId, stream.streamId);
    try {
      const message = await context.conversation.storeInterruptedAudio(stream, interruptedBy, heardIndex, socket);
      context.audio.markInterrupted(stream, message.id);
      this.closed(stream);
      return message;
    } catch (error) {
      context.audio.restore(stream);
      throw error;
    }
  }
}
