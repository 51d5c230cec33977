import type pg from 'pg';
import type { Config } from '../../config/config.js';
import type { Logger } from '../../logger.js';
import type { Closers } from '../../util/closers.js';
import { loadOrCreateSecret } from '../../util/local-secrets.js';
import { dumpPostgres, type Snapshot, type TableWriter } from './dump.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { assertMigrated, migrate } from './migrator.js';
import { maintainPartitions } from './partitions.js';
import { createPool, pingPool } from './pool.js';
import { AccessChangeRepository } from './repositories/access-changes.js';
import { AgentRepository } from './repositories/agents.js';
import { ApiKeyRepository } from './repositories/api-keys.js';
import { AuditLog } from './repositories/audit.js';
import { ConfigRepository } from './repositories/configs.js';
import { DocumentRepository } from './repositories/documents.js';
import { ErasureRepository } from './repositories/erasures.js';
import { FenceRepository } from './repositories/fences.js';
import { RefreshTokenRepository } from './repositories/refresh-tokens.js';
import { SessionRepository } from './repositories/sessions.js';
import { UserRepository } from './repositories/users.js';

/** The typed repositories over PostgreSQL. */
export interface Repositories {
  readonly users: UserRepository;
  readonly sessions: SessionRepository;
  /** Agent workers and which of them has each session (protocol v7). */
  readonly agents: AgentRepository;
  readonly documents: DocumentRepository;
  readonly configs: ConfigRepository;
  readonly audit: AuditLog;
  readonly refreshTokens: RefreshTokenRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly erasures: ErasureRepository;
  readonly fences: FenceRepository;
  /** What changed in access (roles, status, revocations), for the privilege sweep. */
  readonly accessChanges: AccessChangeRepository;
  /** A consistent snapshot of every table, written table by table (a backup). */
  dump(
    writer: TableWriter,
    onTables: (count: number) => void,
    onTable: (table: string, rows: number) => void,
  ): Promise<Snapshot>;
}

/**
 * PostgreSQL at DATABASE_URL, or the embedded one (started here, or attached to when a
 * running node serves it: the CLI); answering, migrated (or checked to be) and partitioned.
 */
export async function openPostgres(
  config: Config,
  deps: { logger: Logger; closers: Closers; attach: boolean },
): Promise<{ pool: pg.Pool; db: Repositories }> {
  const { logger, closers } = deps;
  let url: string;
  if (config.postgres.mode === 'external') url = config.postgres.url;
  else {
    const password = await loadOrCreateSecret(config.dataDir, 'postgres-password');
    const embedded = await startEmbeddedPostgres(
      { dir: config.postgres.dir, port: config.postgres.port, password, attach: deps.attach },
      logger,
    );
    closers.add('embedded postgres', () => embedded.stop());
    url = embedded.url;
  }
  const pool = createPool(
    {
      url,
      max: config.database.poolMax,
      applicationName: `voicehelper:${config.nodeId}`,
      timeouts: config.database.timeouts,
    },
    logger,
  );
  closers.add('postgres pool', () => pool.end());
  await pingPool(pool);
  if (config.migrateOnStart) await migrate(pool, logger);
  else await assertMigrated(pool);
  await maintainPartitions(pool, config.database.partitions, logger);
  return {
    pool,
    db: {
      users: new UserRepository(pool),
      sessions: new SessionRepository(pool),
      agents: new AgentRepository(pool),
      documents: new DocumentRepository(pool),
      configs: new ConfigRepository(pool),
      audit: new AuditLog(pool, logger),
      refreshTokens: new RefreshTokenRepository(pool),
      apiKeys: new ApiKeyRepository(pool),
      erasures: new ErasureRepository(pool),
      fences: new FenceRepository(pool),
      accessChanges: new AccessChangeRepository(pool),
      dump: (writer, onTables, onTable) => dumpPostgres(pool, writer, onTables, onTable),
    },
  };
}
