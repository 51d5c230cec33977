import { uuidv7 } from '../../util/uuid-v7.js';
import type pg from 'pg';
import type { ContentType, JsonObject, Message, MessageRole } from '../../../protocol/models.js';
import { AppError } from '../../errors/app-error.js';
import { abandon } from '../postgres/transaction.js';
import { GroupCommitter, type GroupCommitOptions, type ItemResult } from '../postgres/group-commit.js';
import type { AppendInput, AppendResult, MessagePage, MessageStore } from './message-store.js';
import { isUuid, validateAppend, type MessageLimits } from './validate-message.js';

/** Options of the PostgreSQL message store. */
export interface PostgresMessageStoreOptions {
  groupCommit: GroupCommitOptions;
  limits: MessageLimits;
}

interface MessageRow {
  id: string;
  session_id: string;
  seq: string;
  role: MessageRole;
  content: string;
  content_type: ContentType;
  metadata: JsonObject;
  client_msg_id: string | null;
  sender_id: string | null;
  created_at: Date;
  tokens_used: number | null;
  processing_time_ms: number | null;
}

const COLUMNS =
  'id, session_id, seq, role, content, content_type, metadata, client_msg_id, sender_id, created_at, tokens_used, processing_time_ms';

/** Maps a row to the wire Message. */
export function toMessage(row: MessageRow): Message {
  const message: Message = {
    id: row.id,
    sessionId: row.session_id,
    seq: Number(row.seq),
    role: row.role,
    content: row.content,
    contentType: row.content_type,
    metadata: row.metadata,
    clientMsgId: row.client_msg_id,
    senderId: row.sender_id,
    createdAt: row.created_at.toISOString(),
  };
  if (row.tokens_used !== null) message.tokensUsed = row.tokens_used;
  if (row.processing_time_ms !== null) message.processingTimeMs = row.processing_time_ms;
  return message;
}

/**
 * Messages in the partitioned `messages` table. Appends go through group commit: one
 * transaction per batch locks the batch's sessions in id order (so concurrent batches on
 * any node cannot deadlock), finds resends by (session_id, client_msg_id, sender_id) under
 * those locks, assigns the next seqs, inserts the new rows and advances `sessions.last_seq`.
 * Because every writer of a session holds its row lock while it checks and inserts, seqs
 * are gap-free and a sender's clientMsgId is stored once per session across all
 * partitions. (Rows from before migration 0007 have no sender and match any sender.)
 */
export class PostgresMessageStore implements MessageStore {
  private readonly committer: GroupCommitter<AppendInput, AppendResult>;

  constructor(
    private readonly pool: pg.Pool,
    private readonly options: PostgresMessageStoreOptions,
  ) {
    this.committer = new GroupCommitter((items) => this.commitBatch(items), options.groupCommit, (error) =>
      error instanceof AppError ? error : new AppError('UNAVAILABLE', { message: 'the message could not be stored; retry', cause: error }),
    );
  }

  async append(input: AppendInput): Promise<AppendResult> {
    validateAppend(input, this.options.limits);
    return this.committer.submit(input);
  }

  async getByClientMsgId(sessionId: string, senderId: string, clientMsgId: string): Promise<Message | undefined> {
    if (!isUuid(sessionId) || !isUuid(senderId)) return undefined;
    const result = await this.pool.query<MessageRow>(
      `select ${COLUMNS} from messages
        where session_id = $1 and client_msg_id = $2 and (sender_id = $3 or sender_id is null)
        order by sender_id nulls last limit 1`,
      [sessionId, clientMsgId, senderId],
    );
    return result.rows[0] === undefined ? undefined : toMessage(result.rows[0]);
  }

  async getById(id: string): Promise<Message | undefined> {
    if (!isUuid(id)) return undefined;
    const result = await this.pool.query<MessageRow>(`select ${COLUMNS} from messages where id = $1`, [id]);
    return result.rows[0] === undefined ? undefined : toMessage(result.rows[0]);
  }

  async referencedAudioKeys(keys: readonly string[]): Promise<Set<string>> {
    const sessions = [...new Set(keys.map((key) => key.split('/')[1] ?? '').filter(isUuid))];
    if (sessions.length === 0) return new Set();
    const result = await this.pool.query<{ key: string }>(
      `select metadata->>'objectKey' as key from messages
        where session_id = any($1::uuid[]) and content_type = 'audio' and metadata->>'objectKey' = any($2::text[])`,
      [sessions, keys],
    );
    return new Set(result.rows.map((r) => r.key));
  }

  async pageBefore(sessionId: string, beforeSeq: number | undefined, limit: number): Promise<MessagePage> {
    if (!isUuid(sessionId)) return { messages: [], hasMore: false };
    const result = await this.pool.query<MessageRow>(
      `select ${COLUMNS} from messages
        where session_id = $1 and seq < $2
        order by seq desc limit $3`,
      [sessionId, beforeSeq ?? Number.MAX_SAFE_INTEGER, limit + 1],
    );
    const rows = result.rows.slice(0, limit).reverse();
    return { messages: rows.map(toMessage), hasMore: result.rows.length > limit };
  }

  async since(sessionId: string, sinceSeq: number, limit: number): Promise<MessagePage> {
    if (!isUuid(sessionId)) return { messages: [], hasMore: false };
    const result = await this.pool.query<MessageRow>(
      `select ${COLUMNS} from messages
        where session_id = $1 and seq > $2
        order by seq asc limit $3`,
      [sessionId, sinceSeq, limit + 1],
    );
    return { messages: result.rows.slice(0, limit).map(toMessage), hasMore: result.rows.length > limit };
  }

  /** Batches and messages committed by this store so far. */
  commitStats(): { batches: number; items: number } {
    return this.committer.stats();
  }

  close(): Promise<void> {
    return this.committer.close();
  }

  /** One transaction for a whole batch; returns one result per input, in order. */
  private async commitBatch(items: AppendInput[]): Promise<ItemResult<AppendResult>[]> {
    const sessionIds = [...new Set(items.map((i) => i.sessionId))].sort();
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const locked = await client.query<{ id: string; last_seq: string; created_at: Date }>(
        'select id, last_seq, created_at from sessions where id = any($1::uuid[]) order by id for update',
        [sessionIds],
      );
      const sessions = new Map(locked.rows.map((r) => [r.id, { lastSeq: Number(r.last_seq), createdAt: r.created_at }]));

      const known = items.filter((i) => sessions.has(i.sessionId));
      const existing = new Map<string, Message>();
      if (known.length > 0) {
        const oldest = new Date(Math.min(...[...sessions.values()].map((s) => s.createdAt.getTime())));
        const found = await client.query<MessageRow & { key_sender: string }>(
          `select ${COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')}, k.sender_id as key_sender
             from unnest($1::uuid[], $2::text[], $3::uuid[]) as k(session_id, client_msg_id, sender_id)
             cross join lateral (
               select * from messages
                where session_id = k.session_id and client_msg_id = k.client_msg_id
                  and (sender_id = k.sender_id or sender_id is null) and created_at >= $4
                order by sender_id nulls last
                limit 1
             ) m`,
          [known.map((i) => i.sessionId), known.map((i) => i.clientMsgId), known.map((i) => i.senderId), oldest],
        );
        for (const row of found.rows) existing.set(idempotencyKey(row.session_id, row.key_sender, row.client_msg_id as string), toMessage(row));
      }

      // Decide each item: unknown session, resend of a committed message, a second copy
      // within this batch, or a new row with the session's next seq.
      type Plan =
        | { kind: 'missing' }
        | { kind: 'committed'; message: Message }
        | { kind: 'new'; id: string; duplicate: boolean };
      const plans: Plan[] = [];
      const rows: { id: string; seq: number; input: AppendInput }[] = [];
      const idInBatch = new Map<string, string>();
      for (const input of items) {
        const session = sessions.get(input.sessionId);
        const key = idempotencyKey(input.sessionId, input.senderId, input.clientMsgId);
        const committed = existing.get(key);
        const earlier = idInBatch.get(key);
        if (session === undefined) plans.push({ kind: 'missing' });
        else if (committed !== undefined) plans.push({ kind: 'committed', message: committed });
        else if (earlier !== undefined) plans.push({ kind: 'new', id: earlier, duplicate: true });
        else {
          session.lastSeq += 1;
          const id = uuidv7();
          idInBatch.set(key, id);
          rows.push({ id, seq: session.lastSeq, input });
          plans.push({ kind: 'new', id, duplicate: false });
        }
      }

      const inserted = new Map<string, Message>();
      if (rows.length > 0) {
        const result = await client.query<{ id: string; created_at: Date }>(
          `insert into messages (id, session_id, seq, role, content, content_type, metadata, client_msg_id, tokens_used, processing_time_ms, sender_id)
           select * from unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::jsonb[], $8::text[], $9::int[], $10::int[], $11::uuid[])
           returning id, created_at`,
          [
            rows.map((r) => r.id),
            rows.map((r) => r.input.sessionId),
            rows.map((r) => r.seq),
            rows.map((r) => r.input.role),
            rows.map((r) => r.input.content),
            rows.map((r) => r.input.contentType),
            rows.map((r) => JSON.stringify(r.input.metadata)),
            rows.map((r) => r.input.clientMsgId),
            rows.map((r) => r.input.tokensUsed ?? null),
            rows.map((r) => r.input.processingTimeMs ?? null),
            rows.map((r) => r.input.senderId),
          ],
        );
        // Only id and created_at come back: the rest is what was sent, so large contents
        // do not travel twice.
        const createdAt = new Map(result.rows.map((row) => [row.id, row.created_at]));
        for (const row of rows) {
          inserted.set(
            row.id,
            toMessage({
              id: row.id,
              session_id: row.input.sessionId,
              seq: String(row.seq),
              role: row.input.role,
              content: row.input.content,
              content_type: row.input.contentType,
              metadata: row.input.metadata,
              client_msg_id: row.input.clientMsgId,
              sender_id: row.input.senderId,
              created_at: createdAt.get(row.id) as Date,
              tokens_used: row.input.tokensUsed ?? null,
              processing_time_ms: row.input.processingTimeMs ?? null,
            }),
          );
        }
        const advanced = [...sessions.entries()];
        await client.query(
          `update sessions s set last_seq = u.last_seq, updated_at = now()
             from unnest($1::uuid[], $2::bigint[]) as u(id, last_seq)
            where s.id = u.id and s.last_seq <> u.last_seq`,
          [advanced.map(([id]) => id), advanced.map(([, s]) => s.lastSeq)],
        );
      }
      await client.query('commit');
      client.release();

      return plans.map((plan): ItemResult<AppendResult> => {
        if (plan.kind === 'missing') return { ok: false, error: new AppError('NOT_FOUND', { message: 'session not found' }) };
        if (plan.kind === 'committed') return { ok: true, value: { message: plan.message, duplicate: true } };
        const message = inserted.get(plan.id);
        if (message === undefined) return { ok: false, error: new AppError('INTERNAL', { message: 'inserted row missing' }) };
        return { ok: true, value: { message, duplicate: plan.duplicate } };
      });
    } catch (error) {
      await abandon(client, error);
      throw error;
    }
  }
}

/** One sender's idempotency key in one session. */
function idempotencyKey(sessionId: string, senderId: string, clientMsgId: string): string {
  return `${sessionId}\u0000${senderId}\u0000${clientMsgId}`;
}
