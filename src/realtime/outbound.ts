import type { AppSocket } from './dispatcher.js';
import type { AppServer } from './io-server.js';
import { endSocket } from './local-sockets.js';

interface EnginePacket {
  data?: unknown;
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}

/**
 * Bytes written to a socket that have not left this process yet: packets engine.io holds
 * until its transport can take them, plus what the TCP socket has not handed to the kernel.
 * (engine.io exposes its write buffer only as a private field; without it, the count is the
 * TCP part alone.)
 */
export function outboundBytes(socket: AppSocket): number {
  let bytes = socket.request.socket?.writableLength ?? 0;
  const pending = (socket.conn as unknown as { writeBuffer?: EnginePacket[] }).writeBuffer;
  if (Array.isArray(pending)) for (const packet of pending) bytes += sizeOf(packet.data);
  return bytes;
}

/**
 * Resolves true once the socket's outbound bytes are at most `limit`, or false after
 * `timeoutMs` (a consumer that does not read) or when the socket went away.
 */
export async function drained(socket: AppSocket, limit: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (outboundBytes(socket) > limit) {
    if (!socket.connected || Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return socket.connected;
}

/**
 * Ends a socket that does not read what it is sent: it is told (`slow_consumer`; it may
 * reconnect and catch up from the seq it holds), and should it not read even that, its TCP
 * connection is cut shortly after, so its buffers go.
 */
export function endSlowConsumer(socket: AppSocket): void {
  const raw = socket.conn.transport.name === 'websocket' ? socket.request.socket : undefined;
  endSocket(socket, { reason: 'slow_consumer', reconnect: true, retryAfterMs: 1_000 });
  if (raw !== undefined) setTimeout(() => raw.destroy(), 2_000).unref();
}

/**
 * Every `everyMs`, ends the sockets of this node with more than `hardLimitBytes` waiting to
 * be written (live messages to a client that stopped reading). Returns a stop function.
 */
export function watchSlowConsumers(
  io: AppServer,
  options: { hardLimitBytes: number; everyMs: number; onSlow: (socket: AppSocket) => void },
): () => void {
  const timer = setInterval(() => {
    for (const socket of io.of('/').sockets.values())
      if (outboundBytes(socket) > options.hardLimitBytes) options.onSlow(socket);
  }, options.everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
