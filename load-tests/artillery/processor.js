// @ts-check
// Functions of the Artillery scenarios (CommonJS, as Artillery loads a processor). A virtual
// user is one member of a session: PER_SESSION users in a row share one account and one
// session, made by the first of them over HTTP. Each member also keeps a listening socket on
// LISTEN_URL (another node) that measures the delivery of every message of its session while
// it listens (vh.delivered), and counts its own messages apart (vh.delivered_own: each one,
// since it listens from before its first send until after its last).
'use strict';

const { randomUUID } = require('node:crypto');
const { io } = require('socket.io-client');

const PER_SESSION = Number(process.env.PER_SESSION || 5);
const LISTEN_URL = process.env.LISTEN_URL || '';

/** @type {Map<number, Promise<{ token: string, sessionId: string }>>} */
const groups = new Map();
/** @type {Map<string, import('socket.io-client').Socket>} */
const listeners = new Map();
let members = 0;

/** @param {string} base @param {string} path @param {unknown} body @param {string} [token] */
async function post(base, path, body, token) {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(`${path} answered ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** The account and session of a group, made once by its first member. */
function groupOf(/** @type {string} */ target, /** @type {number} */ group) {
  let made = groups.get(group);
  if (made === undefined) {
    made = (async () => {
      const { accessToken } = await post(target, '/v1/auth/register', {
        email: `artillery-${randomUUID()}@load.test`,
        username: `artillery${group}`,
        password: 'artillery horse battery staple',
      });
      const { session } = await post(target, '/v1/sessions', { title: `artillery ${group}` }, accessToken);
      return { token: accessToken, sessionId: session.id };
    })();
    groups.set(group, made);
  }
  return made;
}

/** beforeScenario: the member's account, session and (with LISTEN_URL) its listening socket. */
function member(context, events, done) {
  const target = context.vars.target;
  const group = Math.floor(members++ / PER_SESSION);
  groupOf(target, group).then(
    ({ token, sessionId }) => {
      context.vars.token = token;
      context.vars.sessionId = sessionId;
      if (!LISTEN_URL) return done();
      const socket = io(LISTEN_URL, { transports: ['websocket'], auth: { token }, reconnection: false });
      listeners.set(context._uid, socket);
      socket.on('message:new', ({ message }) => {
        const [, at, sender] = String(message.content).split(':');
        const sent = Number(at);
        if (!Number.isFinite(sent)) return;
        events.emit('histogram', 'vh.delivery_latency', Date.now() - sent);
        events.emit('counter', 'vh.delivered', 1);
        // Its own messages reach it without fail: it listens from before its first send.
        if (sender === context._uid) events.emit('counter', 'vh.delivered_own', 1);
      });
      socket.once('connect_error', (error) => done(error));
      socket.once('connect', () =>
        socket.emit('session:join', { sessionId }, (answer) =>
          answer.ok ? done() : done(new Error(`listener join: ${answer.error.code}`)),
        ),
      );
    },
    (error) => done(error),
  );
}

/**
 * A message's id and content, stamped with when it is sent (the Socket.IO engine's own
 * response times do not reach Artillery 2's metrics, so the functions around an emit
 * measure its ack).
 */
function stamp(context, _events, done) {
  context.vars.clientMsgId = randomUUID();
  context.vars.startedAt = Date.now();
  context.vars.content = `sent-at:${context.vars.startedAt}:${context._uid}`;
  done();
}

/** After an acked message:send (the next step runs in the ack's turn): its ack latency. */
function acked(context, events, done) {
  events.emit('histogram', 'vh.ack_latency', Date.now() - context.vars.startedAt);
  done();
}

/** Before connecting: when the connect began. */
function connecting(context, _events, done) {
  context.vars.startedAt = Date.now();
  done();
}

/** After the join's ack: from the connect's start to the session joined. */
function joined(context, events, done) {
  events.emit('histogram', 'vh.connect_join_latency', Date.now() - context.vars.startedAt);
  done();
}

/** afterScenario: the listening socket goes. */
function leave(context, _events, done) {
  listeners.get(context._uid)?.close();
  listeners.delete(context._uid);
  done();
}

module.exports = { member, connecting, joined, stamp, acked, leave };
