import type { RevokedFamilies } from '../auth/revoked-families.js';
import type { AccessChangeRepository } from '../stores/postgres/repositories/access-changes.js';
import type { UserDirectory } from './user-directory.js';

/** What the watch needs. */
export interface AccessWatchOptions {
  changes: AccessChangeRepository;
  directory: UserDirectory;
  families: RevokedFamilies;
  /**
   * How far back the first read looks: as far as a copy this node could be served can be
   * stale (the shared user cache's TTL, an access token's lifetime).
   */
  lookbackSeconds: number;
  /**
   * How much earlier than the previous read each read starts: longer than any transaction
   * that changes access takes to commit (a change is dated at its transaction's start).
   */
  overlapMs: number;
}

/**
 * How a node learns the changes of access it was not told of: a role or status changed,
 * a user forgotten, a login logged out or an API key revoked by another node whose
 * announcement was lost, or by the CLI on the embedded default, whose pub/sub and cache
 * never reach the node. Each `catchUp` reads from PostgreSQL what changed since the last
 * one (less the overlap; re-reading a change is harmless) and applies it as an
 * announcement would: the user directory serves no older copy of a changed user, and
 * revoked families are refused. A read that fails is retried from the same point.
 */
export class AccessWatch {
  private readAt: Date | undefined;

  constructor(private readonly options: AccessWatchOptions) {}

  async catchUp(): Promise<void> {
    const { changes, directory, families, lookbackSeconds, overlapMs } = this.options;
    const since = this.readAt === undefined ? undefined : new Date(this.readAt.getTime() - overlapMs);
    const read = await changes.since(since, lookbackSeconds);
    for (const { id, version } of read.users) directory.outdate(id, version);
    for (const id of read.erased) directory.outdate(id, Number.MAX_SAFE_INTEGER);
    for (const id of read.families) families.learn(id);
    this.readAt = read.readAt;
  }
}
