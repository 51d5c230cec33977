import type { Command } from 'commander';
import {
  type BackupHooks,
  createBackup,
  listBackups,
  pruneBackups,
  restoreBackup,
  unauthenticatedReason,
  verifyBackup,
} from '../../backup/backup.js';
import type { Manifest } from '../../backup/manifest.js';
import { openBackup, openLocation } from '../../backup/target.js';
import { startProgress } from '../progress.js';
import { CliError, cliSetup, EXIT, printTable, runCommand, withDatabase, withStores } from '../runtime.js';

function locationText(given: string | undefined, option: string): string {
  const text = given ?? process.env['BACKUP_TARGET'];
  if (text === undefined || text.trim() === '')
    throw new CliError(`give ${option} <dir | s3://bucket/prefix>, or set BACKUP_TARGET`, EXIT.usage);
  return text;
}

function hooks(logger: BackupHooks['logger']): BackupHooks {
  return { progress: startProgress, logger };
}

const bytes = (n: number) => (n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

/** `voicehelper backup create|list|verify|restore|prune` */
export function registerBackupCommands(program: Command): void {
  const backup = program
    .command('backup')
    .description('backups of all five stores: PostgreSQL snapshot, objects, graph (vectors are rebuilt on restore)');

  backup
    .command('create')
    .description('back up a serving cluster (one backup at a time); encrypted when BACKUP_ENCRYPTION_KEY is set')
    .option('--to <location>', 'a directory or s3://bucket/prefix (default BACKUP_TARGET)')
    .option('--json', 'print the manifest as JSON')
    .action((options: { to?: string; json?: boolean }) =>
      runCommand(async () => {
        const text = locationText(options.to, '--to');
        await withStores(async ({ config, logger, stores }) => {
          const location = await openLocation(text, config);
          const manifest = (await createBackup(
            stores,
            config,
            location,
            { encryptionKey: config.backup.encryptionKey },
            hooks(logger),
          )) as Manifest;
          if (options.json === true) process.stdout.write(`${JSON.stringify(manifest)}\n`);
          else {
            const rows = Object.values(manifest.parts.postgres.tables).reduce((sum, t) => sum + t.rows, 0);
            const graph =
              manifest.parts.graph === null
                ? 'in PostgreSQL'
                : `${manifest.parts.graph.nodes} nodes, ${manifest.parts.graph.relationships} relationships`;
            process.stdout.write(
              `${manifest.id} at ${location.text}\n` +
                `  postgres  ${Object.keys(manifest.parts.postgres.tables).length} tables, ${rows} rows, ${bytes(manifest.parts.postgres.bytes)} (migration ${manifest.migration})\n` +
                `  objects   ${manifest.parts.objects.count} (${bytes(manifest.parts.objects.bytes)})${manifest.parts.objects.missing.length > 0 ? `, ${manifest.parts.objects.missing.length} deleted meanwhile` : ''}\n` +
                `  graph     ${graph}\n` +
                `  vectors   ${manifest.parts.vectors.chunks} chunks, rebuilt on restore\n` +
                `  encrypted ${manifest.encryption === null ? 'no (unauthenticated: restore needs --allow-unauthenticated)' : 'yes (aes-256-gcm, manifest authenticated with hmac-sha256)'}\n`,
            );
          }
        });
      }),
    );

  backup
    .command('list')
    .description(
      'the backups of a location, oldest first, with damaged, unfinished and unauthenticated ones marked (manifests checked with BACKUP_ENCRYPTION_KEY when set)',
    )
    .option('--from <location>', 'a directory or s3://bucket/prefix (default BACKUP_TARGET)')
    .option('--json', 'one JSON object per line')
    .action((options: { from?: string; json?: boolean }) =>
      runCommand(async () => {
        const { config } = cliSetup();
        const location = await openLocation(locationText(options.from, '--from'), config);
        printTable(
          (await listBackups(location, config.backup.encryptionKey)) as unknown as Record<string, unknown>[],
          options.json === true,
        );
      }),
    );

  backup
    .command('verify <backup>')
    .description(
      "check a backup's manifest (its HMAC with BACKUP_ENCRYPTION_KEY, else its checksum) and every file against it (size, SHA-256, and the cipher's tag); with BACKUP_ENCRYPTION_KEY set, an unencrypted backup is refused",
    )
    .action((reference: string) =>
      runCommand(async () => {
        const { config } = cliSetup();
        const { location, id } = await openBackup(reference, config);
        const checked = await verifyBackup(
          location,
          id,
          { encryptionKey: config.backup.encryptionKey, allowUnauthenticated: true },
          { progress: startProgress },
        );
        const loose = unauthenticatedReason(checked);
        process.stdout.write(
          `${id}: ${checked.manifest.files.length} files verified; ${
            loose === undefined
              ? 'manifest authenticated (hmac-sha256 with BACKUP_ENCRYPTION_KEY)'
              : `UNAUTHENTICATED: ${loose} (restore needs --allow-unauthenticated)`
          }\n`,
        );
      }),
    );

  backup
    .command('restore <backup>')
    .description('restore into empty stores: every file is checked first, and non-empty stores are refused')
    .option('--into-empty-only', 'refuse stores that hold data (always the case; accepted for scripts that say so)')
    .option(
      '--allow-unauthenticated',
      'restore a backup whose manifest nothing authenticates (in plain text without BACKUP_ENCRYPTION_KEY, or of format 1), only one whose origin you know; with the key set, plain text is refused all the same',
    )
    .option('--json', 'print what was restored as JSON')
    .action((reference: string, options: { json?: boolean; allowUnauthenticated?: boolean }) =>
      runCommand(async () => {
        await withDatabase(async (pool, { config, logger }) => {
          const { location, id } = await openBackup(reference, config);
          const report = await restoreBackup(
            pool,
            (work) => withStores(({ stores }) => work(stores)),
            config,
            location,
            id,
            {
              encryptionKey: config.backup.encryptionKey,
              allowUnauthenticated: options.allowUnauthenticated === true,
            },
            hooks(logger),
          );
          if (options.json === true) process.stdout.write(`${JSON.stringify(report)}\n`);
          else {
            process.stdout.write(
              `restored ${id}: ${report.tables} tables (${report.rows} rows), ${report.objects} objects, ` +
                `${report.graph === null ? 'graph in PostgreSQL' : `${report.graph.nodes} graph nodes`}, ${report.vectors} vectors rebuilt, ` +
                `${report.requeued} documents queued again, ${report.fencesReseeded} fencing counters re-seeded\n`,
            );
          }
        });
      }),
    );

  backup
    .command('prune')
    .description(
      'remove backups older than --keep-days whose manifest verifies (with BACKUP_ENCRYPTION_KEY when set); others, and ids dated in the future, are listed as skipped',
    )
    .option('--from <location>', 'a directory or s3://bucket/prefix (default BACKUP_TARGET)')
    .option('--keep-days <days>', 'keep backups younger than this', '30')
    .action((options: { from?: string; keepDays: string }) =>
      runCommand(async () => {
        const days = Number(options.keepDays);
        if (!Number.isFinite(days) || days < 0) throw new CliError('--keep-days is a number of days', EXIT.usage);
        const { config } = cliSetup();
        const location = await openLocation(locationText(options.from, '--from'), config);
        const { removed, skipped } = await pruneBackups(location, days, {
          encryptionKey: config.backup.encryptionKey,
        });
        const lines = [
          ...removed.map((id) => `removed ${id}`),
          ...skipped.map(({ id, reason }) => `skipped ${id}: ${reason}`),
        ];
        process.stdout.write(lines.length === 0 ? 'nothing to prune\n' : `${lines.join('\n')}\n`);
      }),
    );
}
