import { io as connect, type Socket } from 'socket.io-client';
import type { Ack } from '../../protocol/errors.js';

/** A test client socket (untyped on purpose: tests also send what the protocol forbids). */
export type TestSocket = Socket;

/** Opens a websocket client; resolves once connected, rejects with the connect_error. */
export function openClient(baseUrl: string, auth: Record<string, unknown> | undefined): Promise<TestSocket> {
  const socket = connect(baseUrl, {
    transports: ['websocket'],
    reconnection: false,
    forceNew: true,
    ...(auth === undefined ? {} : { auth }),
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (error) => {
      socket.close();
      reject(error);
    });
  });
}

/** Emits an event with an ack callback and resolves with the ack. */
export function request<T = unknown>(socket: TestSocket, event: string, ...args: unknown[]): Promise<Ack<T>> {
  return socket.timeout(10_000).emitWithAck(event, ...args) as Promise<Ack<T>>;
}

/** Resolves with the next occurrence of `event` on `socket`. */
export function nextEvent<T = unknown>(socket: TestSocket, event: string): Promise<T> {
  return new Promise((resolve) => socket.once(event, (payload: T) => resolve(payload)));
}
