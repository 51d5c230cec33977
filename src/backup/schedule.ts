import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import type { Stores } from '../stores/stores.js';
import { createBackup, listBackups, pruneBackups } from './backup.js';
import { BackupRefused } from './errors.js';
import { openLocation } from './target.js';

/** What one look at the schedule did. */
export type ScheduleOutcome = 'not-due' | 'taken' | 'taken-already' | 'busy';

const CHECK_EVERY_MS = 60_000;
const quiet = { increment: () => undefined, setTotal: () => undefined, stop: () => undefined };

/**
 * The daily backup of BACKUP_SCHEDULE (`HH:MM` UTC) to BACKUP_TARGET. Every node looks once
 * a minute; past the day's time, the first to take the backup lock takes the backup (the
 * others find it held, or find the day's backup when they get the lock) and prunes backups
 * older than BACKUP_KEEP_DAYS. A failed run is logged and tried again at the next look.
 */
export class BackupScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScheduleOutcome> | undefined;
  private readonly hour: number;
  private readonly minute: number;

  constructor(
    private readonly stores: Stores,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {
    const [hour, minute] = (config.backup.schedule ?? '00:00').split(':').map(Number) as [number, number];
    this.hour = hour;
    this.minute = minute;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick().catch(() => undefined), CHECK_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One look: takes the day's backup when it is due and nobody took it yet. */
  tick(now = new Date()): Promise<ScheduleOutcome> {
    this.running ??= this.look(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async look(now: Date): Promise<ScheduleOutcome> {
    const due = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), this.hour, this.minute));
    if (now < due) return 'not-due';
    const location = await openLocation(this.config.backup.target as string, this.config);
    const takenSince = async () =>
      (await listBackups(location)).some(
        (b) => b.state === 'ok' && b.createdAt !== null && new Date(b.createdAt) >= due,
      );
    if (await takenSince()) return 'taken-already';
    try {
      const manifest = await createBackup(
        this.stores,
        this.config,
        location,
        { encryptionKey: this.config.backup.encryptionKey, now, skipIf: takenSince },
        { progress: () => quiet, logger: this.logger },
      );
      if (manifest === undefined) return 'taken-already';
      const pruned = await pruneBackups(location, this.config.backup.keepDays, now);
      this.logger.info({ backup: manifest.id, target: location.text, pruned }, 'scheduled backup taken');
      await this.stores.db.audit.record(
        { userId: null },
        {
          action: 'backup.create',
          resourceType: 'backup',
          resourceId: manifest.id,
          details: { scheduled: true, pruned },
        },
      );
      return 'taken';
    } catch (error) {
      if (error instanceof BackupRefused) return 'busy';
      this.logger.error({ err: error }, 'scheduled backup failed; trying again in a minute');
      throw error;
    } finally {
      await location.store.close();
    }
  }
}
