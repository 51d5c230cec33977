import type pg from 'pg';
import type { JsonObject, Session, SessionStatus } from '../../../../protocol/models.js';
import { AppError } from '../../../errors/app-error.js';
import { isUuid } from '../../messages/validate-message.js';
import { cursorAt, decodeCursor, encodeCursor } from '../cursor.js';
import { withTransaction } from '../transaction.js';

interface SessionRow {
  id: string;
  user_id: string;
  title: string;
  status: SessionStatus;
  context: JsonObject;
  metadata: JsonObject;
  last_seq: string;
  created_at: Date;
  updated_at: Date;
  agent: string | null;
}

const COLUMNS = 'id, user_id, title, status, context, metadata, last_seq, created_at, updated_at, agent';

/** Maps a row to the wire Session. */
export function toSession(row: SessionRow): Session {
  return {
    id: row.id,
    userId: row.user_id,
    title: row.title,
    status: row.status,
    context: row.context,
    metadata: row.metadata,
    lastSeq: Number(row.last_seq),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    ...(row.agent === null ? {} : { agent: row.agent }),
  };
}

/** Fields a session update may change; undefined leaves a field as it is. */
export interface SessionChanges {
  title?: string;
  context?: JsonObject;
  metadata?: JsonObject;
  status?: SessionStatus;
}

/** Conversations (table `sessions`). */
export class SessionRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** A new session; one that names an agent waits for a worker of it from the same statement on. */
  async create(input: {
    userId: string;
    title?: string;
    context?: JsonObject;
    metadata?: JsonObject;
    agent?: string;
  }): Promise<Session> {
    const result = await this.pool.query<SessionRow>(
      `with created as (
         insert into sessions (user_id, title, context, metadata, agent) values ($1, $2, $3, $4, $5) returning ${COLUMNS}
       ), waiting as (
         insert into agent_assignments (session_id, agent) select id, agent from created where agent is not null
       )
       select ${COLUMNS} from created`,
      [
        input.userId,
        input.title ?? '',
        JSON.stringify(input.context ?? {}),
        JSON.stringify(input.metadata ?? {}),
        input.agent ?? null,
      ],
    );
    return toSession(result.rows[0] as SessionRow);
  }

  async get(id: string): Promise<Session | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.pool.query<SessionRow>(`select ${COLUMNS} from sessions where id = $1`, [id]);
    return result.rows[0] === undefined ? undefined : toSession(result.rows[0]);
  }

  /** Current `last_seq` of each existing session among `ids`. */
  async lastSeqs(ids: readonly string[]): Promise<Map<string, number>> {
    const result = await this.pool.query<{ id: string; last_seq: string }>(
      'select id, last_seq from sessions where id = any($1::uuid[])',
      [ids.filter(isUuid)],
    );
    return new Map(result.rows.map((r) => [r.id, Number(r.last_seq)]));
  }

  /** The user's sessions, newest `updatedAt` first, `limit` per page. */
  async list(
    userId: string,
    options: { limit: number; cursor?: string; status?: SessionStatus },
  ): Promise<{ sessions: Session[]; nextCursor: string | null }> {
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor);
    const result = await this.pool.query<SessionRow & { cursor_at: string }>(
      `select ${COLUMNS}, ${cursorAt('updated_at')} as cursor_at from sessions
        where user_id = $1
          and ($2::text is null or status = $2)
          and ($3::timestamptz is null or (updated_at, id) < ($3, $4::uuid))
        order by updated_at desc, id desc
        limit $5`,
      [userId, options.status ?? null, after?.at ?? null, after?.id ?? null, options.limit + 1],
    );
    const rows = result.rows.slice(0, options.limit);
    const last = rows[rows.length - 1];
    return {
      sessions: rows.map(toSession),
      nextCursor:
        result.rows.length > options.limit && last !== undefined
          ? encodeCursor({ at: last.cursor_at, id: last.id })
          : null,
    };
  }

  /** Applies the given changes; NOT_FOUND for an unknown session. */
  async update(id: string, changes: SessionChanges): Promise<Session> {
    if (!isUuid(id)) throw new AppError('NOT_FOUND', { message: 'session not found' });
    const result = await this.pool.query<SessionRow>(
      `update sessions set
         title = coalesce($2, title),
         context = coalesce($3::jsonb, context),
         metadata = coalesce($4::jsonb, metadata),
         status = coalesce($5, status),
         updated_at = now()
       where id = $1 returning ${COLUMNS}`,
      [
        id,
        changes.title ?? null,
        changes.context === undefined ? null : JSON.stringify(changes.context),
        changes.metadata === undefined ? null : JSON.stringify(changes.metadata),
        changes.status ?? null,
      ],
    );
    if (result.rows[0] === undefined) throw new AppError('NOT_FOUND', { message: 'session not found' });
    return toSession(result.rows[0]);
  }

  /** Deletes a session and its messages in one transaction; returns how many messages went. */
  async deleteWithMessages(id: string): Promise<number> {
    return withTransaction(this.pool, async (client) => {
      const deleted = await client.query('delete from messages where session_id = $1', [id]);
      await client.query('delete from sessions where id = $1', [id]);
      return deleted.rowCount ?? 0;
    });
  }

  /** Ids of up to `limit` sessions of a user, in id order. */
  async idsOfUser(userId: string, limit: number): Promise<string[]> {
    const result = await this.pool.query<{ id: string }>(
      'select id from sessions where user_id = $1 order by id limit $2',
      [userId, limit],
    );
    return result.rows.map((r) => r.id);
  }
}
