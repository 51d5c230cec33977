import type { MessageRole } from '../../../protocol/models.js';
import { keys } from '../names.js';
import type { RedisClient } from '../redis/connection.js';
import { StreamAppendCode } from '../redis/script-codes.js';
import { defineScript } from '../redis/scripts.js';
import type { DeltaInput, OpenStream, StreamBuffer, StreamState } from './stream-buffer.js';
import { streamErrors } from './stream-errors.js';

/**
 * Open streams are indexed in one of `BUCKETS` sorted sets, chosen by session, and a
 * stream's keys carry its bucket's hash tag: the scripts touch a stream's keys and its
 * bucket together, which on a Redis Cluster must share one slot; the buckets spread the
 * streams over the cluster's masters.
 */
const BUCKETS = 32;
const BUCKET_IDS = Array.from({ length: BUCKETS }, (_, i) => i);
function bucketOf(sessionId: string): number {
  let h = 0;
  for (let i = 0; i < sessionId.length; i++) h = (Math.imul(h, 31) + sessionId.charCodeAt(i)) >>> 0;
  return h % BUCKETS;
}
const openKey = keys.openStreams;
const hashKey = (sessionId: string, streamId: string) => keys.stream(bucketOf(sessionId), sessionId, streamId);
const textKey = (sessionId: string, streamId: string) => keys.streamText(bucketOf(sessionId), sessionId, streamId);
const endsKey = (sessionId: string, streamId: string) => keys.streamEnds(bucketOf(sessionId), sessionId, streamId);
const closedKey = (sessionId: string, streamId: string) => keys.streamClosed(bucketOf(sessionId), sessionId, streamId);
/** Idle streams handed out by one `idle` call at most (the sweep runs again soon). */
const IDLE_BATCH = 512;
/** How long a barge-in's message is remembered for the deltas still on their way. */
const CLOSED_TTL_SECONDS = 3_600;

type StreamClient = RedisClient & {
  streamAppend(
    hash: string,
    text: string,
    open: string,
    ends: string,
    closed: string,
    ...args: (string | number)[]
  ): Promise<[number, number | string]>;
  streamInterrupt(
    hash: string,
    text: string,
    ends: string,
  ): Promise<[string, string, string, string, string, string[]] | null>;
};

/** Open streams in Redis, shared by every node (see stream-append-5.lua and stream-interrupt-3.lua). */
export class RedisStreamBuffer implements StreamBuffer {
  private readonly redis: StreamClient;

  constructor(
    redis: RedisClient,
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
      openKey(bucketOf(input.sessionId)),
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
    const [fields, text] = await Promise.all([
      this.redis.hgetall(hashKey(sessionId, streamId)),
      this.redis.get(textKey(sessionId, streamId)),
    ]);
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
      .zrem(openKey(bucketOf(sessionId)), `${sessionId}:${streamId}`)
      .exec();
  }

  async interrupt(sessionId: string, streamId: string) {
    const taken = await this.redis.streamInterrupt(
      hashKey(sessionId, streamId),
      textKey(sessionId, streamId),
      endsKey(sessionId, streamId),
    );
    if (taken === null) return undefined;
    const [userId, role, nodeId, socketId, text, ends] = taken;
    return {
      sessionId,
      streamId,
      userId,
      role: role as MessageRole,
      nodeId,
      socketId,
      text,
      deltaEnds: ends.map(Number),
    };
  }

  async interrupted(sessionId: string, streamId: string, messageId: string): Promise<void> {
    await this.redis
      .multi()
      .set(closedKey(sessionId, streamId), messageId, 'EX', CLOSED_TTL_SECONDS)
      .del(hashKey(sessionId, streamId), textKey(sessionId, streamId), endsKey(sessionId, streamId))
      .zrem(openKey(bucketOf(sessionId)), `${sessionId}:${streamId}`)
      .exec();
  }

  async interruptedBy(sessionId: string, streamId: string): Promise<string | undefined> {
    return (await this.redis.get(closedKey(sessionId, streamId))) ?? undefined;
  }

  async idle(idleMs: number): Promise<OpenStream[]> {
    const before = Date.now() - idleMs;
    const perBucket = Math.ceil(IDLE_BATCH / BUCKETS);
    const buckets = await Promise.all(
      BUCKET_IDS.map((b) => this.redis.zrangebyscore(openKey(b), '-inf', before, 'WITHSCORES', 'LIMIT', 0, perBucket)),
    );
    const out: OpenStream[] = [];
    for (const entries of buckets) {
      for (let i = 0; i + 1 < entries.length; i += 2) {
        const [sessionId, streamId] = (entries[i] as string).split(':');
        if (sessionId !== undefined && streamId !== undefined)
          out.push({ sessionId, streamId, lastDeltaAt: Number(entries[i + 1]) });
      }
    }
    return out.sort((a, b) => a.lastDeltaAt - b.lastDeltaAt);
  }
}
