import type { Config } from '../config/config.js';
import type { Logger } from '../logger.js';
import type { Stores } from '../stores/stores.js';
import { createBackup, distrust, listBackupIds, pruneBackups, type SkippedBackup } from './backup.js';
import { BackupRefused } from './errors.js';
import { backupIdTime } from './manifest.js';
import { type BackupLocation, openLocation } from './target.js';

/** What one look at the schedule did. */
export type ScheduleOutcome = 'not-due' | 'taken' | 'taken-already' | 'busy';

const CHECK_EVERY_MS = 60_000;
// Skipped backups are logged once each; the record is dropped when it grows past this.
const REPORTED_MAX = 1_000;
const quiet = { increment: () => undefined, setTotal: () => undefined, stop: () => undefined };

/**
 * The daily backup of BACKUP_SCHEDULE (`HH:MM` UTC) to BACKUP_TARGET. Every node looks once
 * a minute; past the day's time, the first to take the backup lock takes the backup (the
 * others find it held, or find the day's backup when they get the lock) and prunes backups
 * older than BACKUP_KEEP_DAYS. A failed run is logged and tried again at the next look.
 *
 * Anyone who can write BACKUP_TARGET can put a folder there, so the day's backup counts as
 * taken only when its manifest verifies (authenticates under BACKUP_ENCRYPTION_KEY, or,
 * with no key configured, matches its checksum) and its id is not in the future (a forged
 * backup dated 2099 would otherwise stand for every day to come); prune removes only
 * backups that verify. What either leaves alone is logged, once per backup and reason.
 */
export class BackupScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ScheduleOutcome> | undefined;
  private readonly hour: number;
  private readonly minute: number;
  private readonly reported = new Set<string>();

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
    const takenSince = () => this.takenSince(location, due, now);
    try {
      if (await takenSince()) return 'taken-already';
      const manifest = await createBackup(
        this.stores,
        this.config,
        location,
        { encryptionKey: this.config.backup.encryptionKey, now, skipIf: takenSince },
        { progress: () => quiet, logger: this.logger },
      );
      if (manifest === undefined) return 'taken-already';
      const { removed: pruned, skipped } = await pruneBackups(location, this.config.backup.keepDays, {
        encryptionKey: this.config.backup.encryptionKey,
        now,
      });
      this.report(location, skipped);
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

  /** Whether a backup that verifies was started at `due` or later (and not in the future). */
  private async takenSince(location: BackupLocation, due: Date, now: Date): Promise<boolean> {
    // Newest first: the day's backup, if any, is among the last ids.
    for (const id of (await listBackupIds(location)).reverse()) {
      if ((backupIdTime(id) as number) < due.getTime()) break;
      const reason = await distrust(location, id, this.config.backup.encryptionKey, now);
      if (reason === undefined) return true;
      this.report(location, [{ id, reason }]);
    }
    return false;
  }

  private report(location: BackupLocation, skipped: readonly SkippedBackup[]): void {
    for (const { id, reason } of skipped) {
      const key = `${id}\n${reason}`;
      if (this.reported.has(key)) continue;
      if (this.reported.size >= REPORTED_MAX) this.reported.clear();
      this.reported.add(key);
      this.logger.warn(
        { backup: id, target: location.text, reason },
        'backup schedule: ignored a backup it cannot trust',
      );
    }
  }
}
