import type pg from 'pg';
import type { ContentType, JsonObject, Message, MessageRole } from '../../../protocol/models.js';
import { AppError } from '../../errors/app-error.js';
import { SpanKind, traced, tracingOn } from '../../tracing.js';
import { uuidv7 } from '../../util/uuid-v7.js';
import { streamMessageKey } from '../names.js';
import { type GroupCommitOptions, GroupCommitter, type ItemResult } from '../postgres/group-commit.js';
import type { AppendInput, AppendResult, MessagePage, MessageStore } from './message-store.js';
import { isUuid, type MessageLimits, validateAppend, validateContent } from './validate-message.js';

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

/**
 * What `vh_append_messages` (migrations/functions/vh_append_messages.sql) says of each item,
 * by the letter it returns.
 */
const APPEND_OUTCOME = {
  /** Inserted: the row has its new seq. */
  inserted: 'n',
  /** The same key earlier in this batch: the row's id is that item's message. */
  repeatedInBatch: 'd',
  /** Committed before this batch: the row is that message. */
  committedBefore: 'c',
  /** No such session. */
  missingSession: 'm',
} as const;
type AppendOutcome = (typeof APPEND_OUTCOME)[keyof typeof APPEND_OUTCOME];

/** One row of `vh_append_messages`. */
interface AppendRow extends MessageRow {
  ord: number;
  outcome: AppendOutcome;
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
 * statement per batch (`vh_append_messages`, in auto-commit) locks the batch's sessions in
 * id order (so concurrent batches on any node cannot deadlock), finds resends by
 * (session_id, client_msg_id, sender_id) under those locks, assigns the next seqs, inserts
 * the new rows and advances `sessions.last_seq`.
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
    this.committer = new GroupCommitter(
      (items) => this.commitBatch(items),
      options.groupCommit,
      (error) =>
        error instanceof AppError
          ? error
          : new AppError('UNAVAILABLE', { message: 'the message could not be stored; retry', cause: error }),
    );
  }

  async append(input: AppendInput): Promise<AppendResult> {
    validateAppend(input, this.options.limits);
    if (!tracingOn()) return this.committer.submit(input);
    // The wait for the group commit that carries this message (the batch is shared).
    return traced(
      'message commit',
      { 'db.system.name': 'postgresql', 'voicehelper.session': input.sessionId },
      () => this.committer.submit(input),
      SpanKind.CLIENT,
    );
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

  async setTranscript(sessionId: string, messageId: string, transcript: string): Promise<Message | undefined> {
    validateContent(transcript, this.options.limits);
    if (!isUuid(sessionId) || !isUuid(messageId)) return undefined;
    const result = await this.pool.query<MessageRow>(
      `update messages set content = $3 where id = $1 and session_id = $2 and content_type = 'audio' returning ${COLUMNS}`,
      [messageId, sessionId, transcript],
    );
    return result.rows[0] === undefined ? undefined : toMessage(result.rows[0]);
  }

  async getByStream(sessionId: string, streamId: string): Promise<Message | undefined> {
    if (!isUuid(sessionId)) return undefined;
    const result = await this.pool.query<MessageRow>(
      `select ${COLUMNS} from messages
        where session_id = $1 and (client_msg_id = $2 or (content_type = 'audio' and metadata->>'streamId' = $3))
        order by seq desc limit 1`,
      [sessionId, streamMessageKey(streamId), streamId],
    );
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

  /** One batch of the group commit, in three steps: append every row, build the new messages, answer each item. */
  private async commitBatch(items: AppendInput[]): Promise<ItemResult<AppendResult>[]> {
    const rows = await this.appendRows(items);
    const created = newMessages(items, rows);
    return items.map((input, i) => outcome(input, rows.get(i + 1), created));
  }

  /**
   * Appends a batch in one round trip (`vh_append_messages`: seqs in order per session,
   * duplicates by clientMsgId answered with the original); rows by their 1-based position.
   */
  private async appendRows(items: AppendInput[]): Promise<Map<number, AppendRow>> {
    const result = await this.pool.query<AppendRow>(
      'select * from vh_append_messages($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::jsonb[], $9::int[], $10::int[])',
      [
        items.map((i) => i.sessionId),
        items.map((i) => i.senderId),
        items.map((i) => i.clientMsgId),
        items.map(() => uuidv7()),
        items.map((i) => i.role),
        items.map((i) => i.content),
        items.map((i) => i.contentType),
        items.map((i) => JSON.stringify(i.metadata)),
        items.map((i) => i.tokensUsed ?? null),
        items.map((i) => i.processingTimeMs ?? null),
      ],
    );
    return new Map(result.rows.map((row) => [row.ord, row]));
  }
}

/** The messages a batch created, by id, built from what was sent: large contents do not travel twice. */
function newMessages(items: AppendInput[], rows: Map<number, AppendRow>): Map<string, Message> {
  const created = new Map<string, Message>();
  for (const [i, input] of items.entries()) {
    const row = rows.get(i + 1);
    if (row?.outcome !== APPEND_OUTCOME.inserted) continue;
    created.set(
      row.id,
      toMessage({
        id: row.id,
        session_id: input.sessionId,
        seq: row.seq,
        role: input.role,
        content: input.content,
        content_type: input.contentType,
        metadata: input.metadata,
        client_msg_id: input.clientMsgId,
        sender_id: input.senderId,
        created_at: row.created_at,
        tokens_used: input.tokensUsed ?? null,
        processing_time_ms: input.processingTimeMs ?? null,
      }),
    );
  }
  return created;
}

/** One item's answer, from its row's outcome (`APPEND_OUTCOME`). */
function outcome(
  input: AppendInput,
  row: AppendRow | undefined,
  created: Map<string, Message>,
): ItemResult<AppendResult> {
  switch (row?.outcome) {
    case APPEND_OUTCOME.inserted:
    case APPEND_OUTCOME.repeatedInBatch: {
      const message = created.get(row.id);
      if (message === undefined)
        return { ok: false, error: new AppError('INTERNAL', { message: 'inserted row missing' }) };
      return { ok: true, value: { message, duplicate: row.outcome === APPEND_OUTCOME.repeatedInBatch } };
    }
    case APPEND_OUTCOME.committedBefore:
      return {
        ok: true,
        value: { message: toMessage({ ...row, session_id: input.sessionId } as MessageRow), duplicate: true },
      };
    case APPEND_OUTCOME.missingSession:
      return { ok: false, error: new AppError('NOT_FOUND', { message: 'session not found' }) };
    default:
      return { ok: false, error: new AppError('INTERNAL', { message: 'the batch returned no row for a message' }) };
  }
}
