import type { Redis } from 'ioredis';
import { defineScript } from '../redis/scripts.js';
import { TURNS_KEPT, type TurnMark, type TurnRecord, type TurnStore } from './turn-store.js';

const currentKey = (sessionId: string) => `vh:turn:${sessionId}`;
const historyKey = (sessionId: string) => `vh:turns:${sessionId}`;
/** A session's turn clock lives a day after its last turn (the seed's session TTL). */
const TTL_SECONDS = 24 * 60 * 60;

type TurnClient = Redis & {
  turnStart(current: string, history: string, at: number, kept: number, ttl: number): Promise<number>;
  turnMark(current: string, field: string, at: number): Promise<string | null>;
};

function toRecord(fields: Record<string, string>): TurnRecord {
  const record: TurnRecord = { endedAt: Number(fields['endedAt']) };
  for (const field of ['firstDeltaAt', 'firstAudioAt', 'finalAt', 'interruptedAt'] as const) {
    if (fields[field] !== undefined) record[field] = Number(fields[field]);
  }
  return record;
}

/** The turn clock in Redis, shared by every node (turn-start-2.lua, turn-mark-1.lua). */
export class RedisTurnStore implements TurnStore {
  private readonly redis: TurnClient;

  constructor(redis: Redis) {
    defineScript(redis, 'turn-start-2.lua', 'turnStart');
    defineScript(redis, 'turn-mark-1.lua', 'turnMark');
    this.redis = redis as TurnClient;
  }

  async start(sessionId: string, at: number): Promise<void> {
    await this.redis.turnStart(currentKey(sessionId), historyKey(sessionId), at, TURNS_KEPT, TTL_SECONDS);
  }

  async mark(sessionId: string, mark: TurnMark, at: number): Promise<number | undefined> {
    const ended = await this.redis.turnMark(currentKey(sessionId), `${mark}At`, at);
    return ended === null ? undefined : Number(ended);
  }

  async recent(sessionId: string): Promise<TurnRecord[]> {
    const [current, history] = await Promise.all([this.redis.hgetall(currentKey(sessionId)), this.redis.lrange(historyKey(sessionId), 0, TURNS_KEPT - 1)]);
    const past = history.map((json) => {
      const flat = JSON.parse(json) as string[];
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
      return toRecord(fields);
    });
    return current['endedAt'] === undefined ? past : [toRecord(current), ...past];
  }
}
