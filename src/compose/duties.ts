import { BackupScheduler } from '../backup/schedule.js';
import { startClusterDuties } from '../realtime/cluster-duties.js';
import { watchSlowConsumers } from '../realtime/outbound.js';
import { startPrivilegeSweep } from '../realtime/privilege-sweep.js';
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
  const stopPrivilegeSweep = startPrivilegeSweep({
    io,
    access: (ids) => stores.db.users.access(ids),
    directory: services.accounts.directory,
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
