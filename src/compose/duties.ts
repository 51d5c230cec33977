import { BackupScheduler } from '../backup/schedule.js';
import { startClusterDuties } from '../realtime/cluster-duties.js';
import { watchSlowConsumers } from '../realtime/outbound.js';
import { startPrivilegeSweep } from '../realtime/privilege-sweep.js';
import { AccessWatch } from '../services/access-watch.js';
import { USER_TTL_SECONDS } from '../services/user-directory.js';
import type { RealtimePart } from './realtime.js';
import type { NodeBase, Services } from './services.js';

/**
 * Step 5 of a node: what runs in the background: the privilege sweep, the slow-consumer
 * watch, cluster duties (heartbeat, dead nodes, idle streams), ingestion, the storage
 * reconciler and scheduled backups.
 */
export function startDuties(base: NodeBase, services: Services, realtime: RealtimePart): BackupScheduler | undefined {
  const { config, logger, stores, closers } = base;
  const { io, context } = realtime;
  const { directory, families } = services.accounts;
  const watch = new AccessWatch({
    changes: stores.db.accessChanges,
    directory,
    families,
    lookbackSeconds: Math.max(USER_TTL_SECONDS, config.tokens.accessTtlSeconds),
    // A transaction that changes access is a few statements, each within the statement timeout.
    overlapMs: 2 * config.database.timeouts.statementMs,
  });
  const stopPrivilegeSweep = startPrivilegeSweep({
    io,
    catchUp: () => watch.catchUp(),
    access: (ids) => stores.db.users.access(ids),
    revokedAmong: (ids) => stores.db.accessChanges.revokedAmong(ids),
    learnRevoked: (id) => families.learn(id),
    directory,
    everyMs: config.privilegeSweepMs,
    logger,
  });
  closers.add('privilege sweep', stopPrivilegeSweep);
  const stopSlowConsumerWatch = watchSlowConsumers(io, {
    hardLimitBytes: config.outbound.hardLimitBytes,
    everyMs: 1_000,
    onSlow: realtime.slowConsumer,
  });
  closers.add('slow-consumer watch', stopSlowConsumerWatch);
  const stopCluster = startClusterDuties(context, config.streams.sweepMs);
  closers.add('cluster duties', stopCluster);
  services.documents.start();
  services.reconciler.start();
  closers.add('storage reconciler', () => services.reconciler.stop());
  if (config.backup.schedule === undefined) return undefined;
  const backups = new BackupScheduler(stores, config, logger);
  backups.start();
  closers.add('scheduled backups', () => backups.stop());
  return backups;
}
