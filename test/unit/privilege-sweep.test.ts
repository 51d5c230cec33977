import { describe, expect, it } from 'vitest';
import type { AppSocket } from '../../src/realtime/dispatcher.js';
import type { AppServer } from '../../src/realtime/io-server.js';
import { startPrivilegeSweep } from '../../src/realtime/privilege-sweep.js';
import type { UserDirectory } from '../../src/services/user-directory.js';
import type { UserAccess } from '../../src/stores/postgres/repositories/users.js';
import { waitUntil } from '../../src/util/timeout.js';
import { testLogger } from '../helpers/env.js';

/** A connected socket of a login (`family`) as the sweep sees it; records what it was told. */
function socketOf(userId: string, family: string) {
  const told: unknown[] = [];
  const socket = {
    id: `socket-${family}`,
    connected: true,
    data: { userId, role: 'user', kind: 'login', family, tokenExpiresAt: Date.now() + 60_000 },
    emit: (_event: string, notice: unknown) => told.push(notice),
    disconnect: () => {
      socket.connected = false;
    },
    conn: { close: () => undefined },
  };
  return { socket: socket as unknown as AppSocket, told };
}

// The sweep's own order: a revocation committed after the run's catchUp read PostgreSQL is
// found by the socket check of the same run. The login's tokens must then be refused by
// this node's requests at once, not from the next run on (seen in CI: a socket ended as
// logged_out while the same token still passed GET /v1/documents on that node).
describe('the privilege sweep', () => {
  it('refuses the tokens of a family it finds revoked, in the run that ends its sockets', async () => {
    const { socket, told } = socketOf('u1', 'family-1');
    const learnt: string[] = [];
    const active: UserAccess = { id: 'u1', status: 'active', roles: ['user'], version: 1 };
    const stop = startPrivilegeSweep({
      io: { of: () => ({ sockets: new Map([[socket.id, socket]]) }) } as unknown as AppServer,
      // The catchUp of this run read PostgreSQL before the revocation committed.
      catchUp: async () => undefined,
      access: async () => new Map([['u1', active]]),
      revokedAmong: async (ids) => new Set(ids.filter((id) => id === 'family-1')),
      learnRevoked: (id) => learnt.push(id),
      directory: { refresh: () => undefined } as unknown as UserDirectory,
      everyMs: 60_000,
      logger: testLogger(),
    });
    try {
      expect(await waitUntil(() => told.length > 0, 5_000)).toBe(true);
      expect(told).toEqual([{ reason: 'logged_out', reconnect: false }]);
      expect(learnt).toEqual(['family-1']);
    } finally {
      stop();
    }
  });
});
