import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { registerBody } from '../../../protocol/http.js';
import { roles as allRoles, type Role } from '../../../protocol/roles.js';
import { Passwords } from '../../auth/passwords.js';
import { ERASURE_STEPS } from '../../services/erasure.js';
import { isUuid } from '../../stores/messages/validate-message.js';
import type { Actor } from '../../stores/postgres/repositories/audit.js';
import type { UserRecord } from '../../stores/postgres/repositories/users.js';
import { startProgress } from '../progress.js';
import { type CliContext, CliError, EXIT, printTable, runCommand, withStores } from '../runtime.js';

/** Who an operator's command acts as in the audit log. */
export function cliActor(): Actor {
  return { userId: null, ip: null, userAgent: `voicehelper-cli (${userInfo().username})` };
}

/** A user by id or email; NOT_FOUND otherwise. */
async function findUser(context: CliContext, ref: string): Promise<UserRecord> {
  const users = context.stores.db.users;
  const user = isUuid(ref) ? await users.getById(ref) : await users.getByEmail(ref);
  if (user === undefined) throw new CliError(`no user ${ref}`, EXIT.notFound);
  return user;
}

function parseRoles(text: string): Role[] {
  const wanted = text
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  const unknown = wanted.filter((r) => !allRoles.includes(r as Role));
  if (unknown.length > 0 || wanted.length === 0)
    throw new CliError(`roles are a comma-separated list of ${allRoles.join(', ')}`, EXIT.usage);
  return wanted as Role[];
}

/**
 * The new password: asked twice on a terminal, else the first line of stdin (never argv,
 * where other users of the machine and the shell history would see it).
 */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY === true) {
    const { default: password } = await import('@inquirer/password');
    const first = await password({ message: 'Password (at least 8 characters):', mask: '*' });
    const second = await password({ message: 'Repeat it:', mask: '*' });
    if (first !== second) throw new CliError('the passwords differ', EXIT.usage);
    return first;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (line === '')
    throw new CliError('no password on stdin (pipe it in, or run on a terminal to be asked)', EXIT.usage);
  return line;
}

function userRow(user: UserRecord) {
  return {
    id: user.id,
    email: user.email,
    username: user.username,
    roles: user.roles,
    status: user.status,
    createdAt: user.createdAt,
    lastLoginAt: user.lastLoginAt,
  };
}

/** `voicehelper users ...` */
export function registerUserCommands(program: Command): void {
  const users = program.command('users').description('create, list and change accounts; forget a user');

  users
    .command('create')
    .description('create an account; the password is asked for, or read from the first line of stdin')
    .requiredOption('--email <email>', 'sign-in email')
    .option('--role <role>', `one of ${allRoles.join(', ')}`, 'user')
    .option('--username <name>', 'display name (default: the part of the email before @)')
    .option('--json', 'print the account as JSON')
    .action((options: { email: string; role: string; username?: string; json?: boolean }) =>
      runCommand(async () => {
        const [role] = parseRoles(options.role);
        const password = await readPassword();
        const parsed = registerBody.safeParse({
          email: options.email,
          username: options.username ?? options.email.split('@')[0],
          password,
        });
        if (!parsed.success) throw new CliError(parsed.error.issues.map((i) => i.message).join('; '), EXIT.usage);
        await withStores(async (context) => {
          const hash = await new Passwords(context.config.passwordHashing).hash(parsed.data.password);
          const user = await context.stores.db.users.create({
            email: parsed.data.email,
            username: parsed.data.username,
            passwordHash: hash,
            roles: [role as Role],
          });
          await context.stores.db.audit.record(cliActor(), {
            action: 'user.create',
            resourceType: 'user',
            resourceId: user.id,
            details: { roles: user.roles },
          });
          printTable([userRow(user)], options.json === true);
        });
      }),
    );

  users
    .command('list')
    .description('accounts, newest first')
    .option('--search <text>', 'only emails or names containing this')
    .option('--limit <n>', 'at most this many', '50')
    .option('--json', 'one JSON object per line')
    .action((options: { search?: string; limit: string; json?: boolean }) =>
      runCommand(async () => {
        const limit = Number(options.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliError('--limit is a positive integer', EXIT.usage);
        await withStores(async (context) => {
          const rows: UserRecord[] = [];
          let cursor: string | undefined;
          do {
            const page = await context.stores.db.users.list({
              limit: Math.min(200, limit - rows.length),
              ...(options.search === undefined ? {} : { search: options.search }),
              ...(cursor === undefined ? {} : { cursor }),
            });
            rows.push(...page.users);
            cursor = page.nextCursor ?? undefined;
          } while (cursor !== undefined && rows.length < limit);
          printTable(rows.map(userRow), options.json === true);
        });
      }),
    );

  users
    .command('roles <user> <roles>')
    .description('set the roles of a user (id or email) to a comma-separated list; user is always kept')
    .action((ref: string, text: string) =>
      runCommand(async () => {
        const wanted = parseRoles(text);
        await withStores(async (context) => {
          const user = await findUser(context, ref);
          const roles = await context.accounts.setRoles(user.id, wanted, cliActor());
          process.stdout.write(`${user.id} roles: ${roles.join(',')}\n`);
        });
      }),
    );

  for (const status of ['disabled', 'active'] as const) {
    users
      .command(`${status === 'disabled' ? 'disable' : 'enable'} <user>`)
      .description(
        status === 'disabled'
          ? 'disable an account: its logins, API keys and sockets end at once'
          : 'let a disabled account sign in again',
      )
      .action((ref: string) =>
        runCommand(async () => {
          await withStores(async (context) => {
            const user = await findUser(context, ref);
            await context.accounts.setStatus(user.id, status, cliActor());
            process.stdout.write(`${user.id} ${status}\n`);
          });
        }),
      );
  }

  users
    .command('forget <user>')
    .description('remove a user and everything they own from all five stores (resumable: run again after a crash)')
    .option('--json', 'print what was removed as JSON')
    .action((ref: string, options: { json?: boolean }) =>
      runCommand(async () => {
        await withStores(async (context) => {
          // A user already gone may still have an unfinished erasure to resume.
          const id = isUuid(ref) ? ref : (await findUser(context, ref)).id;
          const progress = startProgress('forgetting', ERASURE_STEPS.length);
          let seen = 0;
          const erasure = await context.accounts.erasure
            .forgetUser(id, cliActor(), (_step, index) => {
              if (index > seen) progress.increment(index - seen);
              seen = index;
            })
            .finally(() => progress.stop());
          if (options.json === true) process.stdout.write(`${JSON.stringify(erasure)}\n`);
          else {
            process.stdout.write(`forgot ${id} (finished ${erasure.finishedAt})\n`);
            for (const step of ERASURE_STEPS)
              process.stdout.write(`  ${step.padEnd(10)} ${JSON.stringify(erasure.steps[step] ?? {})}\n`);
          }
        });
      }),
    );
}

/** `voicehelper keys ...` */
export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description("service accounts' API keys (exchanged at POST /v1/auth/token)");

  keys
    .command('create')
    .description('create an API key for a service account; the key is printed once')
    .requiredOption('--user <user>', 'the service account (id or email)')
    .requiredOption('--name <name>', 'what the key is for, e.g. asr-worker-1')
    .action((options: { user: string; name: string }) =>
      runCommand(async () => {
        if (options.name.trim() === '' || options.name.length > 100)
          throw new CliError('--name is 1-100 characters', EXIT.usage);
        await withStores(async (context) => {
          const user = await findUser(context, options.user);
          const { key, record } = await context.accounts.apiKeys.create(user.id, options.name.trim(), null);
          await context.stores.db.audit.record(cliActor(), {
            action: 'api_key.create',
            resourceType: 'api_key',
            resourceId: record.id,
            details: { userId: user.id, name: record.name },
          });
          process.stderr.write(`created key ${record.id} for ${user.email}; store it now, it is not shown again:\n`);
          process.stdout.write(`${key}\n`);
        });
      }),
    );

  keys
    .command('list')
    .description('API keys (never their secrets), newest first')
    .option('--user <user>', 'only the keys of this account (id or email)')
    .option('--json', 'one JSON object per line')
    .action((options: { user?: string; json?: boolean }) =>
      runCommand(async () => {
        await withStores(async (context) => {
          const userId = options.user === undefined ? undefined : (await findUser(context, options.user)).id;
          printTable(
            (await context.accounts.apiKeys.list(userId)) as unknown as Record<string, unknown>[],
            options.json === true,
          );
        });
      }),
    );

  keys
    .command('revoke <keyId>')
    .description('revoke a key: token exchanges stop, and the access tokens and sockets it gave end')
    .action((keyId: string) =>
      runCommand(async () => {
        await withStores(async (context) => {
          const record = await context.accounts.apiKeys.revoke(keyId);
          await context.stores.db.audit.record(cliActor(), {
            action: 'api_key.revoke',
            resourceType: 'api_key',
            resourceId: keyId,
            details: { userId: record.userId },
          });
          process.stdout.write(`revoked ${keyId}\n`);
        });
      }),
    );
}
