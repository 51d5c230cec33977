// @ts-check
// Connect storm: VUS clients connect as fast as they can (ramping), each authenticates,
// waits for sys:hello, holds its connection for HOLD_S seconds and leaves. Measures the time
// from opening the WebSocket to sys:hello, and refused connections.
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e VUS=5000 load-tests/k6/connect-storm.js

import exec from 'k6/execution';
import { Rate, Trend } from 'k6/metrics';
import { connect, register } from './lib/k6-client.js';

const VUS = Number(__ENV.VUS || 500);
const USERS = Number(__ENV.USERS || 50);
const HOLD_S = Number(__ENV.HOLD_S || 20);

const connectTime = new Trend('vh_connect_time', true);
const refused = new Rate('vh_errors');

export const options = {
  setupTimeout: '5m',
  scenarios: {
    storm: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '30s', target: VUS },
        { duration: `${HOLD_S}s`, target: VUS },
      ],
      gracefulRampDown: '10s',
    },
  },
  thresholds: {
    vh_connect_time: ['p(95)<1500'],
    vh_errors: ['rate<0.01'],
  },
};

export function setup() {
  return { tokens: Array.from({ length: USERS }, (_, i) => register(`storm${i}`)) };
}

/** @param {{ tokens: string[] }} data */
export default function (data) {
  const token = data.tokens[exec.vu.idInTest % data.tokens.length];
  const opened = Date.now();
  connect(token, (io) => io.socket.setTimeout(() => io.close(), HOLD_S * 1000), {
    onEvent: (name) => {
      if (name !== 'sys:hello') return;
      connectTime.add(Date.now() - opened);
      refused.add(false);
    },
    onConnectError: () => refused.add(true),
  });
}
