import type pg from 'pg';
import { AppError } from '../../errors/app-error.js';

/**
 * Call inside the transaction of a lock-guarded write: records `token` as the newest for
 * `resource`, or throws CONFLICT when a newer holder already wrote (this holder's lease
 * ran out while it was paused). The row lock serialises concurrent holders.
 */
export async function acceptFencingToken(
  client: pg.PoolClient | pg.Pool,
  resource: string,
  token: number,
): Promise<void> {
  const result = await client.query(
    `insert into fencing_tokens (resource, token) values ($1, $2)
     on conflict (resource) do update set token = excluded.token, updated_at = now()
       where fencing_tokens.token <= excluded.token
     returning token`,
    [resource, token],
  );
  if (result.rowCount === 0) {
    throw AppError.because('stale_fencing_token', {
      message: `stale fencing token for ${resource}`,
      details: { resource, token },
    });
  }
}

/** Forgets a resource's recorded token (the resource is gone for good). */
export async function forgetFencingToken(pool: pg.Pool, resource: string): Promise<void> {
  await pool.query('delete from fencing_tokens where resource = $1', [resource]);
}
