import { PROTOCOL_VERSION } from '../../../protocol/models.js';
import type { EventHandler } from '../dispatcher.js';

/** `sys:ping`: a round trip that names the node and the protocol version, for clients and load tests. */
export function pingHandler(nodeId: string): EventHandler<'sys:ping'> {
  return async () => ({ nodeId, serverTime: new Date().toISOString(), protocolVersion: PROTOCOL_VERSION });
}
