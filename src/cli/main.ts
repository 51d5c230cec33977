#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../util/package-root.js';
import { registerKeyCommands, registerUserCommands } from './commands/accounts.js';
import { registerBackupCommands } from './commands/backup.js';
import { registerMigrateCommands } from './commands/migrate.js';
import { EXIT } from './runtime.js';

const program = new Command('voicehelper')
  .description(
    "Operators' command line of the VoiceHelper session server. It reads the same variables as the server " +
      '(DATABASE_URL, REDIS_URL, S3_*, MILVUS_ADDRESS, NEO4J_URI, DATA_DIR, ...); on the embedded default it ' +
      'uses the PostgreSQL a running node serves, or starts it for the command when no node runs.',
  )
  .version(await packageVersion())
  .showHelpAfterError()
  .exitOverride()
  .addHelpText(
    'after',
    `
Exit codes: ${EXIT.ok} ok, ${EXIT.failed} failed, ${EXIT.usage} bad arguments or configuration, ${EXIT.notFound} not found,
${EXIT.refused} refused (exists already, stores not empty, backup damaged or unauthenticated), ${EXIT.unavailable} a store is unreachable.`,
  );

registerUserCommands(program);
registerKeyCommands(program);
registerMigrateCommands(program);
registerBackupCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    // --help and --version end here too, with code 0.
    process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else throw error;
}
// Exit with the command's code now that it has closed what it opened (a library's
// beforeExit hook would otherwise end the process with 0).
process.exit(process.exitCode ?? EXIT.ok);
