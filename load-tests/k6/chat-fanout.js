// @ts-check
// Chat with fan-out: SESSIONS sessions of PER_SESSION members each (every member is a VU
// with its own connection), each member sending a message every SEND_MS. Measures the ack
// (message:send answered, the message committed) and the delivery (message:new on the other
// members) of every message.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e SESSIONS=100 -e PER_SESSION=10 load-tests/k6/chat-fanout.js

import exec from 'k6/execution';
import { Counter, Rate, Trend } from 'k6/metrics';
import { connect, createSession, register } from './lib/k6-client.js';

const SESSIONS = Number(__ENV.SESSIONS || 20);
const PER_SESSION = Number(__ENV.PER_SESSION || 5);
const SEND_MS = Number(__ENV.SEND_MS || 2000);
const DURATION_S = Number(__ENV.DURATION_S || 60);

const ackLatency = new Trend('vh_ack_latency', true);
const deliveryLatency = new Trend('vh_delivery_latency', true);
const failures = new Rate('vh_errors');
const delivered = new Counter('vh_delivered');

export const options = {
  setupTimeout: '5m',
  scenarios: {
    chat: {
      executor: 'per-vu-iterations',
      vus: SESSIONS * PER_SESSION,
      iterations: 1,
      maxDuration: `${DURATION_S + 60}s`,
    },
  },
  thresholds: {
    vh_ack_latency: ['p(95)<250'],
    vh_delivery_latency: ['p(95)<350'],
    vh_errors: ['rate<0.01'],
  },
};

export function setup() {
  const sessions = [];
  for (let i = 0; i < SESSIONS; i++) {
    const token = register(`chat${i}`);
    sessions.push({ token, sessionId: createSession(token) });
  }
  return { sessions };
}

/** @param {{ sessions: { token: string, sessionId: string }[] }} data */
export default function (data) {
  const me = exec.vu.idInTest;
  const { token, sessionId } = data.sessions[me % SESSIONS];
  let sent = 0;
  connect(
    token,
    (io) => {
      io.emit('session:join', { sessionId }, (answer) => {
        failures.add(!answer.ok);
        if (!answer.ok) return io.close();
        io.socket.setInterval(() => {
          const sentAt = Date.now();
          io.emit(
            'message:send',
            { sessionId, clientMsgId: `k6-${me}-${sent++}`, content: `k6 ${sentAt}`, metadata: { sentAt, from: me } },
            (ack) => {
              failures.add(!ack.ok);
              if (ack.ok) ackLatency.add(Date.now() - sentAt);
            },
          );
        }, SEND_MS);
        io.socket.setTimeout(() => io.close(), DURATION_S * 1000);
      });
    },
    {
      onEvent: (name, payload) => {
        if (name !== 'message:new') return;
        const metadata = payload.message.metadata || {};
        if (metadata.from === me || typeof metadata.sentAt !== 'number') return;
        deliveryLatency.add(Date.now() - metadata.sentAt);
        delivered.add(1);
      },
      onConnectError: () => failures.add(true),
    },
  );
}
