import type pg from 'pg';

/** An API key as listed (never with its secret). */
export interface ApiKeyRecord {
  id: string;
  userId: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

interface ApiKeyRow {
  id: string;
  user_id: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const COLUMNS = 'id, user_id, name, created_at, last_used_at, revoked_at';

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

/** API keys of service accounts (table `api_keys`); the service owns their format and secrets. */
export class ApiKeyRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(key: {
    id: string;
    userId: string;
    name: string;
    hash: Buffer;
    createdBy: string | null;
  }): Promise<ApiKeyRecord> {
    const result = await this.pool.query<ApiKeyRow>(
      `insert into api_keys (id, user_id, name, key_hash, created_by) values ($1, $2, $3, $4, $5) returning ${COLUMNS}`,
      [key.id, key.userId, key.name, key.hash, key.createdBy],
    );
    return toRecord(result.rows[0] as ApiKeyRow);
  }

  /** The keys of one user, or of every user; newest first. */
  async list(userId?: string): Promise<ApiKeyRecord[]> {
    const result = await this.pool.query<ApiKeyRow>(
      `select ${COLUMNS} from api_keys where $1::uuid is null or user_id = $1 order by created_at desc, id desc`,
      [userId ?? null],
    );
    return result.rows.map(toRecord);
  }

  /** Revokes a key (again is not an error); undefined when there is no such key. */
  async revoke(id: string): Promise<ApiKeyRecord | undefined> {
    const result = await this.pool.query<ApiKeyRow>(
      `update api_keys set revoked_at = coalesce(revoked_at, now()) where id = $1 returning ${COLUMNS}`,
      [id],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : toRecord(row);
  }

  /** The owner and kept hash of a key, and whether it was revoked. */
  async find(id: string): Promise<{ userId: string; hash: Buffer; revoked: boolean } | undefined> {
    const result = await this.pool.query<{ user_id: string; key_hash: Buffer; revoked: boolean }>(
      'select user_id, key_hash, revoked_at is not null as revoked from api_keys where id = $1',
      [id],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { userId: row.user_id, hash: row.key_hash, revoked: row.revoked };
  }

  async touch(id: string): Promise<void> {
    await this.pool.query('update api_keys set last_used_at = now() where id = $1', [id]);
  }

  /** True when the key exists and was revoked. */
  async isRevoked(id: string): Promise<boolean> {
    const result = await this.pool.query('select 1 from api_keys where id = $1 and revoked_at is not null', [id]);
    return (result.rowCount ?? 0) > 0;
  }
}
