// @ts-check
// The pieces every k6 script shares: accounts and sessions made in setup(), and a
// Socket.IO connection over k6's WebSocket through the framing module.
import http from 'k6/http';
import ws from 'k6/ws';
import { SocketIoSession, socketUrl } from './socketio.js';

/** The node (or load balancer) under test: BASE_URL, default http://127.0.0.1:3000. */
export const BASE_URL = __ENV.BASE_URL || 'http://127.0.0.1:3000';

/**
 * Registers a user and returns its access token.
 * @param {string} label
 * @returns {string}
 */
export function register(label) {
  const email = `${label}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@k6.test`;
  const response = http.post(
    `${BASE_URL}/v1/auth/register`,
    JSON.stringify({ email, username: label, password: 'k6 load test password' }),
    {
      headers: { 'content-type': 'application/json' },
    },
  );
  if (response.status !== 201) throw new Error(`register answered ${response.status}: ${response.body}`);
  return /** @type {{ accessToken: string }} */ (response.json()).accessToken;
}

/**
 * Opens one Socket.IO connection as `token` and runs `work` with it once connected; the
 * connection stays open until `work` calls `close` (or the socket's own timers end it).
 * @param {string} token
 * @param {(io: { emit: SocketIoSession['emit'], close: () => void, socket: import('k6/ws').Socket }) => void} work
 * @param {{ onEvent?: (name: string, payload: any) => void, onConnectError?: (message: string) => void }} [handlers]
 */
export function connect(token, work, handlers = {}) {
  return ws.connect(socketUrl(BASE_URL), null, (socket) => {
    const session = new SocketIoSession((frame) => socket.send(frame), {
      auth: { token },
      onConnect: () =>
        work({
          emit: (name, payload, onAck) => session.emit(name, payload, onAck),
          close: () => socket.close(),
          socket,
        }),
      onConnectError: (message) => {
        handlers.onConnectError?.(message);
        socket.close();
      },
      onEvent: handlers.onEvent,
    });
    socket.on('message', (frame) => session.receive(frame));
  });
}

/**
 * Creates a session as `token` over a short-lived connection (sessions are made over
 * Socket.IO); returns its id.
 * @param {string} token
 * @returns {string}
 */
export function createSession(token) {
  /** @type {string | undefined} */
  let id;
  connect(token, (io) => {
    io.emit('session:create', { title: 'k6' }, (answer) => {
      if (answer.ok) id = answer.data.session.id;
      io.close();
    });
    io.socket.setTimeout(() => io.close(), 10_000);
  });
  if (id === undefined) throw new Error('session:create got no answer');
  return id;
}
