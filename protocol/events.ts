import type { AckCallback, WireError } from './errors.js';
import type { Role } from './roles.js';
import type { PayloadOf } from './schemas.js';

/** `data` of a successful ack, per event. */
export interface AckData {
  'sys:ping': { nodeId: string; serverTime: string };
}

/** Events a client sends; every one takes a trailing ack callback. */
export interface ClientToServerEvents {
  'sys:ping': (payload: PayloadOf<'sys:ping'>, ack?: AckCallback<AckData['sys:ping']>) => void;
}

/** Events the server pushes to clients. */
export interface ServerToClientEvents {
  /** A failure of an event that was sent without an ack callback. */
  error: (payload: { event: string; error: WireError }) => void;
}

/** Messages between nodes through the adapter (none yet beyond the adapter's own). */
export interface InterServerEvents {}

/** What the server knows about an authenticated socket. */
export interface SocketData {
  userId: string;
  role: Role;
}
