import type { Command } from 'commander';
import { migrate, migrateDown, readMigrations } from '../../stores/postgres/migrator.js';
import { CliError, EXIT, printTable, runCommand, withDatabase } from '../runtime.js';

/** `voicehelper migrate status|up|down N` */
export function registerMigrateCommands(program: Command): void {
  const command = program.command('migrate').description('the database schema: applied and pending migrations');

  command
    .command('status')
    .description('every migration, applied (with when) or pending')
    .option('--json', 'one JSON object per line')
    .action((options: { json?: boolean }) =>
      runCommand(async () => {
        await withDatabase(async (pool) => {
          const all = await readMigrations();
          const applied = new Map<number, Date>();
          try {
            const result = await pool.query<{ version: number; applied_at: Date }>(
              'select version, applied_at from schema_migrations',
            );
            for (const row of result.rows) applied.set(row.version, row.applied_at);
          } catch (error) {
            if ((error as { code?: string }).code !== '42P01') throw error; // no ledger yet: all pending
          }
          const rows = all.map((m) => ({
            version: m.version,
            name: m.name,
            state: applied.has(m.version) ? 'applied' : 'pending',
            appliedAt: applied.get(m.version) ?? null,
          }));
          const known = new Set(all.map((m) => m.version));
          for (const [version, at] of applied)
            if (!known.has(version))
              rows.push({ version, name: '(unknown to this code)', state: 'ahead', appliedAt: at });
          printTable(rows, options.json === true);
          if (options.json !== true) {
            const pending = rows.filter((r) => r.state === 'pending').length;
            process.stdout.write(`${applied.size} applied, ${pending} pending\n`);
          }
        });
      }),
    );

  command
    .command('up')
    .description('apply every pending migration (one transaction each, one migrator at a time)')
    .action(() =>
      runCommand(async () => {
        await withDatabase(async (pool, { logger }) => {
          const count = await migrate(pool, logger);
          process.stdout.write(`applied ${count} migration(s)\n`);
        });
      }),
    );

  command
    .command('down <steps>')
    .description(
      'revert the newest <steps> migrations with their .down.sql (drops what they created: development only)',
    )
    .action((stepsText: string) =>
      runCommand(async () => {
        const steps = Number(stepsText);
        if (!Number.isInteger(steps) || steps < 1) throw new CliError('<steps> is a positive integer', EXIT.usage);
        await withDatabase(async (pool, { logger }) => {
          const count = await migrateDown(pool, logger, steps);
          process.stdout.write(`reverted ${count} migration(s)\n`);
        });
      }),
    );
}
