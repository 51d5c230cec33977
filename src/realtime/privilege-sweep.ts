import type { DisconnectNotice } from '../../protocol/events.js';
import type { Logger } from '../logger.js';
import { roleNow } from '../services/authenticator.js';
import type { UserDirectory } from '../services/user-directory.js';
import type { UserAccess } from '../stores/postgres/repositories/users.js';
import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import { endSocket } from './local-sockets.js';

/** What the sweep needs. */
export interface PrivilegeSweepOptions {
  io: AppServer;
  /** Learns the changes of access made since the last run, wherever they were made (PostgreSQL). */
  catchUp: () => Promise<void>;
  /** Status, roles and version of many users in one query (PostgreSQL). */
  access: (userIds: string[]) => Promise<Map<string, UserAccess>>;
  /** Which of these refresh-token families or API keys are revoked, in one query (PostgreSQL). */
  revokedAmong: (familyIds: string[]) => Promise<Set<string>>;
  /** Refuses a revoked family's tokens on this node's requests and handshakes from now on. */
  learnRevoked: (familyId: string) => void;
  directory: UserDirectory;
  /** Interval in ms (PRIVILEGE_SWEEP_MS). */
  everyMs: number;
  logger: Logger;
}

/**
 * The safety net under every change of access, so that no change depends on an
 * announcement arriving: every `everyMs` each node
 * - learns from PostgreSQL what changed since its last run (`catchUp`): requests and
 *   handshakes then see the change, whoever made it;
 * - re-checks each of its sockets against PostgreSQL, in one query for their users and one
 *   for their families, and ends those whose user is gone or disabled, whose role is no
 *   longer the one the socket was admitted with, whose login was logged out or API key
 *   revoked, or whose access token expired (the client reconnects with a fresh one).
 * Returns a function that stops it.
 */
export function startPrivilegeSweep(options: PrivilegeSweepOptions): () => void {
  const { logger } = options;
  let running = false;
  const sweepSockets = async (): Promise<void> => {
    const sockets = [...options.io.of('/').sockets.values()];
    if (sockets.length === 0) return;
    const families = sockets.flatMap((s) => (s.data.family === undefined ? [] : [s.data.family]));
    const [current, revoked] = await Promise.all([
      options.access([...new Set(sockets.map((s) => s.data.userId))]),
      options.revokedAmong(families),
    ]);
    // A revocation committed after this run's catchUp: the tokens its sockets end for are
    // refused at once, not from the next run on (the client must not get in again by HTTP).
    for (const family of revoked) options.learnRevoked(family);
    const now = Date.now();
    const ended = new Map<DisconnectNotice['reason'], number>();
    for (const socket of sockets) {
      const user = current.get(socket.data.userId);
      if (user !== undefined) options.directory.refresh(user);
      const notice = verdict(socket, user, revoked, now);
      if (notice === undefined) continue;
      endSocket(socket, notice);
      ended.set(notice.reason, (ended.get(notice.reason) ?? 0) + 1);
    }
    if (ended.size > 0) logger.info({ ended: Object.fromEntries(ended) }, 'the privilege sweep ended sockets');
  };
  const sweep = async (): Promise<void> => {
    await options
      .catchUp()
      .catch((error: unknown) =>
        logger.warn({ err: error }, 'reading changes of access failed; retrying at the next run'),
      );
    await sweepSockets().catch((error: unknown) =>
      logger.warn({ err: error }, 'checking the sockets failed; retrying at the next run'),
    );
  };
  const run = () => {
    if (running) return;
    running = true;
    void sweep().finally(() => (running = false));
  };
  // At once too: the shared cache may hold copies older than a change this node never heard of.
  run();
  const timer = setInterval(run, options.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/** Why a socket must end now, if it must. */
function verdict(
  socket: AppSocket,
  user: UserAccess | undefined,
  revoked: Set<string>,
  now: number,
): DisconnectNotice | undefined {
  if (user === undefined || user.status !== 'active') return { reason: 'disabled', reconnect: false };
  if (roleNow(user.roles, socket.data.kind) !== socket.data.role) return { reason: 'role_changed', reconnect: true };
  if (socket.data.family !== undefined && revoked.has(socket.data.family))
    return { reason: 'logged_out', reconnect: false };
  if (socket.data.tokenExpiresAt <= now) return { reason: 'token_expired', reconnect: true };
  return undefined;
}
