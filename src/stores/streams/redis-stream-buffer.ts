import type { Redis } from 'ioredis';
import type { MessageRole } from '../../../protocol/models.js';
import { StreamAppendCode } from '../redis/script-codes.js';
import { defineScript } from '../redis/scripts.js';
import type { DeltaInput, OpenStream, StreamBuffer, StreamState } from './stream-buffer.js';
import { streamErrors } from './stream-errors.js';

const OPEN = 'vh:streams';
const hashKey = (sessionId: string, streamId: string) => `vh:stream:${sessionId}:${streamId}`;
const textKey = (sessionId: string, streamId: string) => `vh:stream-text:${sessionId}:${streamId}`;
const endsKey = (sessionId: string, streamId: string) => `vh:stream-ends:${sessionId}:${streamId}`;
const closedKey = (sessionId: string, streamId: string) => `vh:stream-closed:${sessionId}:${streamId}`;
/** How long a barge-in's message is remembered for the deltas still on their way. */
const CLOSED_TTL_SECONDS = 3_600;

type StreamClient = Redis & {
  streamAppend(hash: string, text: string, open: string, ends: string, closed: string, ...args: (string | number)[]): Promise<[number, number | string]>;
  streamInterrupt(hash: string, text: string, ends: string): Promise<[string, string, string, string, string, string[]] | null>;
};

/** Open streams in Redis, shared by every node (see stream-append-5.lua and stream-interrupt-3.lua). */
export class RedisStreamBuffer implements StreamBuffer {
  private readonly redis: StreamClient;

  constructor(
    redis: Redis,
    private readonly maxBytes: number,
    /** Keys expire this long after the last delta even if nobody commits them. */
    private readonly ttlSeconds = 3_600,
  ) {
    defineScript(redis, 'stream-append-5.lua', 'streamAppend');
    defineScript(redis, 'stream-interrupt-3.lua', 'streamInterrupt');
    this.redis = redis as StreamClient;
  }

  async append(input: DeltaInput): Promise<'appended' | 'duplicate'> {
    const [code, expected] = await this.redis.streamAppend(
      hashKey(input.sessionId, input.streamId),
      textKey(input.sessionId, input.streamId),
      OPEN,
      endsKey(input.sessionId, input.streamId),
      closedKey(input.sessionId, input.streamId),
      `${input.sessionId}:${input.streamId}`,
      input.userId,
      input.role,
      input.index,
      input.delta,
      Date.now(),
      this.maxBytes,
      this.ttlSeconds,
      input.nodeId,
      input.socketId,
    );
    switch (code) {
      case StreamAppendCode.Appended:
        return 'appended';
      case StreamAppendCode.Duplicate:
        return 'duplicate';
      case StreamAppendCode.Gap:
        throw streamErrors.gap(Number(expected));
      case StreamAppendCode.Interrupted:
        throw streamErrors.interrupted(expected === '' ? undefined : String(expected));
      case StreamAppendCode.TooLarge:
        throw streamErrors.tooLarge(this.maxBytes);
      default:
        throw streamErrors.notOwner();
    }
  }

  async get(sessionId: string, streamId: string): Promise<StreamState | undefined> {
    const [fields, text] = await Promise.all([this.redis.hgetall(hashKey(sessionId, streamId)), this.redis.get(textKey(sessionId, streamId))]);
    if (fields['userId'] === undefined) return undefined;
    return {
      sessionId,
      streamId,
      userId: fields['userId'],
      role: (fields['role'] ?? 'user') as MessageRole,
      nodeId: fields['nodeId'] ?? '',
      socketId: fields['socketId'] ?? '',
      text: text ?? '',
    };
  }

  async remove(sessionId: string, streamId: string): Promise<void> {
    await this.redis
      .multi()
      .del(hashKey(sessionId, streamId), textKey(sessionId, streamId), endsKey(sessionId, streamId))
      .zrem(OPEN, `${sessionId}:${streamId}`)
      .exec();
  }

  async interrupt(sessionId: string, streamId: string) {
    const taken = await this.redis.streamInterrupt(hashKey(sessionId, streamId), textKey(sessionId, streamId), endsKey(sessionId, streamId));
    if (taken === null) return undefined;
    const [userId, role, nodeId, socketId, text, ends] = taken;
    return { sessionId, streamId, userId, role: role as MessageRole, nodeId, socketId, text, deltaEnds: ends.map(Number) };
  }

  async interrupted(sessionId: string, streamId: string, messageId: string): Promise<void> {
    await this.redis
      .multi()
      .set(closedKey(sessionId, streamId), messageId, 'EX', CLOSED_TTL_SECONDS)
      .del(hashKey(sessionId, streamId), textKey(sessionId, streamId), endsKey(sessionId, streamId))
      .zrem(OPEN, `${sessionId}:${streamId}`)
      .exec();
  }

  async interruptedBy(sessionId: string, streamId: string): Promise<string | undefined> {
    return (await this.redis.get(closedKey(sessionId, streamId))) ?? undefined;
  }

  async idle(idleMs: number): Promise<OpenStream[]> {
    const entries = await this.redis.zrangebyscore(OPEN, '-inf', Date.now() - idleMs, 'WITHSCORES', 'LIMIT', 0, 500);
    const out: OpenStream[] = [];
    for (let i = 0; i + 1 < entries.length; i += 2) {
      const [sessionId, streamId] = (entries[i] as string).split(':');
      if (sessionId !== undefined && streamId !== undefined) out.push({ sessionId, streamId, lastDeltaAt: Number(entries[i + 1]) });
    }
    return out;
  }
}
