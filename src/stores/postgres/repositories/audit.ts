import type pg from 'pg';
import type { Logger } from '../../../logger.js';
import { isUuid } from '../../messages/validate-message.js';
import { cursorAt, decodeCursor, encodeCursor } from '../cursor.js';

/** Who did something, as far as the server knows. */
export interface Actor {
  userId: string | null;
  ip?: string | null;
  userAgent?: string | null;
}

/** One audit entry to write. */
export interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId?: string | null;
  details?: Record<string, unknown>;
}

/** One audit entry as read back. */
export interface AuditRecord extends Required<AuditEntry> {
  id: string;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  createdAt: string;
}

/** Filters of an audit query; every one optional. */
export interface AuditQuery {
  userId?: string;
  action?: string;
  from?: Date;
  to?: Date;
  cursor?: string;
  /** Page size. Default 50. */
  limit?: number;
}

interface AuditRow {
  id: string;
  user_id: string | null;
  action: string;
  resource_type: string;
  resource_id: string | null;
  details: Record<string, unknown>;
  ip_address: string | null;
  user_agent: string | null;
  created_at: Date;
}

const IP = /^[0-9a-fA-F:.]{2,45}$/;

/**
 * The audit trail (partitioned `audit_logs`). Every modifying action writes one entry with
 * `record(actor, entry)`, one line at the call site.
 */
export class AuditLog {
  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
  ) {}

  /**
   * Writes an entry. `client` puts it in the caller's transaction. Failures outside a
   * transaction are logged and counted rather than failing an action that already happened.
   */
  async record(actor: Actor, entry: AuditEntry, client?: pg.PoolClient): Promise<void> {
    const params = [
      actor.userId !== null && isUuid(actor.userId) ? actor.userId : null,
      entry.action.slice(0, 100),
      entry.resourceType.slice(0, 50),
      entry.resourceId?.slice(0, 255) ?? null,
      JSON.stringify(entry.details ?? {}),
      actor.ip !== undefined && actor.ip !== null && IP.test(actor.ip) ? actor.ip : null,
      actor.userAgent?.slice(0, 500) ?? null,
    ];
    const sql = `insert into audit_logs (user_id, action, resource_type, resource_id, details, ip_address, user_agent)
                 values ($1, $2, $3, $4, $5, $6, $7)`;
    if (client !== undefined) {
      await client.query(sql, params);
      return;
    }
    try {
      await this.pool.query(sql, params);
    } catch (error) {
      this.logger.error({ err: error, action: entry.action }, 'audit entry could not be written');
    }
  }

  /** Removes the address and user agent from a user's entries (the trail stays); returns how many. */
  async anonymise(userId: string): Promise<number> {
    const result = await this.pool.query(
      'update audit_logs set ip_address = null, user_agent = null where user_id = $1',
      [userId],
    );
    return result.rowCount ?? 0;
  }

  /** Entries newest first, filtered, one page at a time. */
  async query(filter: AuditQuery): Promise<{ entries: AuditRecord[]; nextCursor: string | null }> {
    const limit = Math.min(Math.max(filter.limit ?? 50, 1), 200);
    const after = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
    const result = await this.pool.query<AuditRow & { cursor_at: string }>(
      `select id, user_id, action, resource_type, resource_id, details, host(ip_address) as ip_address, user_agent, created_at,
              ${cursorAt('created_at')} as cursor_at
         from audit_logs
        where ($1::uuid is null or user_id = $1)
          and ($2::text is null or action = $2)
          and ($3::timestamptz is null or created_at >= $3)
          and ($4::timestamptz is null or created_at < $4)
          and ($5::timestamptz is null or (created_at, id) < ($5, $6::uuid))
        order by created_at desc, id desc
        limit $7`,
      [
        filter.userId ?? null,
        filter.action ?? null,
        filter.from ?? null,
        filter.to ?? null,
        after?.at ?? null,
        after?.id ?? null,
        limit + 1,
      ],
    );
    const rows = result.rows.slice(0, limit);
    const last = rows[rows.length - 1];
    return {
      entries: rows.map((row) => ({
        id: row.id,
        userId: row.user_id,
        action: row.action,
        resourceType: row.resource_type,
        resourceId: row.resource_id,
        details: row.details,
        ip: row.ip_address,
        userAgent: row.user_agent,
        createdAt: row.created_at.toISOString(),
      })),
      nextCursor:
        result.rows.length > limit && last !== undefined ? encodeCursor({ at: last.cursor_at, id: last.id }) : null,
    };
  }
}
