import type { Logger } from '../logger.js';
import type { UserDirectory } from '../services/user-directory.js';
import { primaryRole, type UserAccess } from '../stores/postgres/repositories/users.js';
import { endSocket } from './disconnector.js';
import type { AppServer } from './io-server.js';

/** What the sweep needs. */
export interface PrivilegeSweepOptions {
  io: AppServer;
  /** Status, roles and version of many users in one query (PostgreSQL). */
  access: (userIds: string[]) => Promise<Map<string, UserAccess>>;
  directory: UserDirectory;
  /** Interval in ms. */
  everyMs: number;
  logger: Logger;
}

/**
 * The safety net under role and status changes: every `everyMs` each node reads the users
 * of its connected sockets from PostgreSQL in one query and ends the sockets whose user is
 * gone or disabled or whose role is not the one the socket was admitted with (a socket that
 * missed the change's broadcast). Returns a function that stops it.
 */
export function startPrivilegeSweep(options: PrivilegeSweepOptions): () => void {
  let running = false;
  const sweep = async (): Promise<void> => {
    const sockets = [...options.io.of('/').sockets.values()];
    if (sockets.length === 0) return;
    const current = await options.access([...new Set(sockets.map((s) => s.data.userId))]);
    let ended = 0;
    for (const socket of sockets) {
      const user = current.get(socket.data.userId);
      if (user !== undefined) options.directory.refresh(user);
      if (user === undefined || user.status !== 'active') {
        endSocket(socket, { reason: 'disabled', reconnect: false });
        ended++;
      } else if (primaryRole(user.roles) !== socket.data.role) {
        endSocket(socket, { reason: 'role_changed', reconnect: true });
        ended++;
      }
    }
    if (ended > 0) options.logger.info({ ended }, 'ended sockets whose user changed roles or status');
  };
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweep()
      .catch((error: unknown) =>
        options.logger.warn({ err: error }, 'privilege sweep failed; retrying at the next run'),
      )
      .finally(() => (running = false));
  }, options.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
