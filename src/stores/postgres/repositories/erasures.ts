import type pg from 'pg';
import { isUuid } from '../../messages/validate-message.js';

/** The record of forgetting a user: when it started and ended, and what each finished step removed. */
export interface ErasureRecord {
  userId: string;
  startedAt: string;
  finishedAt: string | null;
  steps: Partial<Record<string, Record<string, number>>>;
}

/** Runs of forgetting a user (table `user_erasures`: ids and counts only). */
export class ErasureRepository {
  constructor(private readonly pool: pg.Pool) {}

  async get(userId: string): Promise<ErasureRecord | undefined> {
    if (!isUuid(userId)) return undefined;
    const result = await this.pool.query<{
      user_id: string;
      started_at: Date;
      finished_at: Date | null;
      steps: ErasureRecord['steps'];
    }>('select user_id, started_at, finished_at, steps from user_erasures where user_id = $1', [userId]);
    const row = result.rows[0];
    return row === undefined
      ? undefined
      : {
          userId: row.user_id,
          startedAt: row.started_at.toISOString(),
          finishedAt: row.finished_at?.toISOString() ?? null,
          steps: row.steps,
        };
  }

  /** Starts the record of a run (once: a record already there is kept). */
  async start(userId: string, requestedBy: string | null): Promise<void> {
    await this.pool.query(
      'insert into user_erasures (user_id, requested_by) values ($1, $2) on conflict (user_id) do nothing',
      [userId, requestedBy],
    );
  }

  async recordStep(userId: string, step: string, result: Record<string, number>): Promise<void> {
    await this.pool.query(
      `update user_erasures set steps = steps || jsonb_build_object($2::text, $3::jsonb) where user_id = $1`,
      [userId, step, JSON.stringify(result)],
    );
  }

  async finish(userId: string): Promise<void> {
    await this.pool.query('update user_erasures set finished_at = now() where user_id = $1 and finished_at is null', [
      userId,
    ]);
  }
}
