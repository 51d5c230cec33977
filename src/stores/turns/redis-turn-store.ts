import { keys } from '../names.js';
import type { RedisClient } from '../redis/connection.js';
import { defineScript } from '../redis/scripts.js';
import { TURNS_KEPT, type TurnMark, type TurnRecord, type TurnStore, type UserTurn } from './turn-store.js';

// Hash-tagged by session: the script touches both, and on a Redis Cluster they share a slot.
const currentKey = keys.turnCurrent;
const historyKey = keys.turnHistory;
/** A session's turn clock lives a day after its last mark (the seed's session TTL). */
const TTL_SECONDS = 24 * 60 * 60;

type TurnClient = RedisClient & {
  turnMark(
    current: string,
    history: string,
    turnId: string,
    endedAt: number,
    field: string,
    at: number,
    kept: number,
    ttl: number,
  ): Promise<number>;
};

function toRecord(fields: Record<string, string>): TurnRecord {
  const record: TurnRecord = { endedAt: Number(fields['endedAt']) };
  for (const field of ['firstDeltaAt', 'firstAudioAt', 'finalAt', 'interruptedAt'] as const) {
    if (fields[field] !== undefined) record[field] = Number(fields[field]);
  }
  return record;
}

/** The turn clocks in Redis, shared by every node (turn-mark-2.lua). */
export class RedisTurnStore implements TurnStore {
  private readonly redis: TurnClient;

  constructor(redis: RedisClient) {
    defineScript(redis, 'turn-mark-2.lua', 'turnMark');
    this.redis = redis as TurnClient;
  }

  async mark(sessionId: string, turn: UserTurn, mark: TurnMark, at: number): Promise<boolean> {
    return (
      (await this.redis.turnMark(
        currentKey(sessionId),
        historyKey(sessionId),
        turn.id,
        turn.endedAt,
        `${mark}At`,
        at,
        TURNS_KEPT,
        TTL_SECONDS,
      )) === 1
    );
  }

  async recent(sessionId: string): Promise<TurnRecord[]> {
    const [current, history] = await Promise.all([
      this.redis.hgetall(currentKey(sessionId)),
      this.redis.lrange(historyKey(sessionId), 0, TURNS_KEPT - 1),
    ]);
    const past = history.map((json) => {
      const flat = JSON.parse(json) as string[];
      const fields: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
      return toRecord(fields);
    });
    return current['endedAt'] === undefined ? past : [toRecord(current), ...past];
  }
}
