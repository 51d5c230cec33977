// @ts-check
// Engine.IO 4 / Socket.IO 5 framing over a plain WebSocket, for load tools that have a
// WebSocket but no Socket.IO client (k6). Plain JavaScript with no imports: k6 runs it,
// and test/integration/k6-framing.test.ts drives it against a real node from Node.
//
// Text packets only (no binary attachments, so no audio chunks). One packet per frame, as
// Engine.IO 4 sends over WebSocket.

/**
 * @typedef {{ kind: 'open', pingInterval: number, pingTimeout: number } | { kind: 'ping' } | { kind: 'close' }
 *   | { kind: 'connect', sid: string } | { kind: 'connect_error', message: string, data: unknown }
 *   | { kind: 'event', name: string, payload: any, ackId?: number } | { kind: 'ack', id: number, response: any }
 *   | { kind: 'disconnect' } | { kind: 'other', raw: string }} Packet
 */

/**
 * The WebSocket URL of a node's Socket.IO endpoint.
 * @param {string} baseUrl
 * @returns {string}
 */
export function socketUrl(baseUrl) {
  const url = String(baseUrl).replace(/^http/, 'ws').replace(/\/$/, '');
  return `${url}/socket.io/?EIO=4&transport=websocket`;
}

/**
 * The Socket.IO CONNECT packet for the main namespace, with the handshake's auth payload.
 * @param {unknown} auth
 * @returns {string}
 */
export function connectPacket(auth) {
  return `40${JSON.stringify(auth)}`;
}

/**
 * An event packet; with `ackId` the server answers it with an ACK packet of that id.
 * @param {string} name
 * @param {unknown} payload
 * @param {number} [ackId]
 * @returns {string}
 */
export function eventPacket(name, payload, ackId) {
  return `42${ackId === undefined ? '' : ackId}${JSON.stringify([name, payload])}`;
}

/** The answer to the server's Engine.IO ping. */
export const PONG = '3';

/**
 * Decodes one frame. Returns one of:
 * `{ kind: 'open', pingInterval, pingTimeout }` (Engine.IO handshake),
 * `{ kind: 'ping' }` (answer with PONG), `{ kind: 'close' }`,
 * `{ kind: 'connect', sid }`, `{ kind: 'connect_error', message, data }`,
 * `{ kind: 'event', name, payload }`, `{ kind: 'ack', id, response }`,
 * `{ kind: 'disconnect' }`, or `{ kind: 'other', raw }`.
 * @param {string} frame
 * @returns {Packet}
 */
export function decode(frame) {
  const text = String(frame);
  switch (text[0]) {
    case '0': {
      const open = JSON.parse(text.slice(1));
      return { kind: 'open', pingInterval: open.pingInterval, pingTimeout: open.pingTimeout };
    }
    case '1':
      return { kind: 'close' };
    case '2':
      return { kind: 'ping' };
    case '4':
      return decodeSocketIo(text.slice(1));
    default:
      return { kind: 'other', raw: text };
  }
}

/**
 * @param {string} packet
 * @returns {Packet}
 */
function decodeSocketIo(packet) {
  const type = packet[0];
  let rest = packet.slice(1);
  // A namespace other than "/" would come as "/name," first; this server uses only "/".
  if (type === '0') {
    const data = rest === '' ? {} : JSON.parse(rest);
    return { kind: 'connect', sid: data.sid };
  }
  if (type === '1') return { kind: 'disconnect' };
  if (type === '4') {
    const data = JSON.parse(rest);
    return { kind: 'connect_error', message: data.message, data: data.data };
  }
  const digits = /^\d*/.exec(rest)?.[0] ?? '';
  rest = rest.slice(digits.length);
  if (type === '2') {
    const [name, payload] = JSON.parse(rest);
    return { kind: 'event', name, payload, ...(digits === '' ? {} : { ackId: Number(digits) }) };
  }
  if (type === '3') {
    const [response] = JSON.parse(rest);
    return { kind: 'ack', id: Number(digits), response };
  }
  return { kind: 'other', raw: `4${packet}` };
}

/**
 * The protocol state of one connection over any WebSocket: call `receive` with every
 * frame and `send` goes to the socket. Answers pings, sends CONNECT with `auth` once the
 * Engine.IO handshake arrives, numbers acks, and hands events and outcomes to the handlers.
 */
export class SocketIoSession {
  /**
   * @param {(frame: string) => void} send
   * @param {{ auth: unknown, onConnect?: () => void, onConnectError?: (message: string, data: unknown) => void,
   *           onEvent?: (name: string, payload: unknown) => void, onDisconnect?: () => void }} handlers
   */
  constructor(send, handlers) {
    this.send = send;
    this.handlers = handlers;
    this.nextAck = 0;
    /** @type {Map<number, (response: any) => void>} */
    this.pending = new Map();
    this.connected = false;
  }

  /**
   * Handles one frame from the server.
   * @param {string} frame
   */
  receive(frame) {
    const packet = decode(frame);
    switch (packet.kind) {
      case 'open':
        this.send(connectPacket(this.handlers.auth));
        break;
      case 'ping':
        this.send(PONG);
        break;
      case 'connect':
        this.connected = true;
        this.handlers.onConnect?.();
        break;
      case 'connect_error':
        this.handlers.onConnectError?.(packet.message, packet.data);
        break;
      case 'event':
        this.handlers.onEvent?.(packet.name, packet.payload);
        break;
      case 'ack': {
        const resolve = this.pending.get(packet.id);
        this.pending.delete(packet.id);
        resolve?.(packet.response);
        break;
      }
      case 'disconnect':
      case 'close':
        this.connected = false;
        this.handlers.onDisconnect?.();
        break;
      default:
        break;
    }
  }

  /**
   * Emits an event; `onAck` gets the server's `{ ok, data | error }` answer.
   * @param {string} name
   * @param {unknown} payload
   * @param {(response: any) => void} [onAck]
   */
  emit(name, payload, onAck) {
    if (onAck === undefined) {
      this.send(eventPacket(name, payload));
      return;
    }
    const id = this.nextAck++;
    this.pending.set(id, onAck);
    this.send(eventPacket(name, payload, id));
  }

  /** Acks still unanswered (given up on when the connection closes). */
  get unanswered() {
    return this.pending.size;
  }
}
