// @ts-check
// Retrieval mix: VUS clients of one user, each in its own session, doing RETRIEVE_SHARE
// retrievals (vector search plus graph expansion over an uploaded document) and the rest
// message sends, one every STEP_MS. Measures retrieve and ack latency, and how many
// retrievals came back degraded (a store down).
//
//   k6 run -e BASE_URL=http://127.0.0.1:8080 -e VUS=50 load-tests/k6/retrieval-mix.js

import { sleep } from 'k6';
import exec from 'k6/execution';
import http from 'k6/http';
import { Rate, Trend } from 'k6/metrics';
import { BASE_URL, connect, createSession, register } from './lib/k6-client.js';

const VUS = Number(__ENV.VUS || 20);
const STEP_MS = Number(__ENV.STEP_MS || 1000);
const RETRIEVE_SHARE = Number(__ENV.RETRIEVE_SHARE || 0.2);
const DURATION_S = Number(__ENV.DURATION_S || 60);

const retrieveLatency = new Trend('vh_retrieve_latency', true);
const ackLatency = new Trend('vh_ack_latency', true);
const degraded = new Rate('vh_retrieve_degraded');
const failures = new Rate('vh_errors');

export const options = {
  setupTimeout: '5m',
  scenarios: { mix: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: `${DURATION_S + 60}s` } },
  thresholds: {
    vh_retrieve_latency: ['p(95)<800'],
    vh_ack_latency: ['p(95)<250'],
    vh_retrieve_degraded: ['rate<0.01'],
    vh_errors: ['rate<0.01'],
  },
};

const DOCUMENT = [
  'Voice assistants stream partial answers as deltas while the user listens.',
  'A barge-in interrupts the assistant; the server stores what was heard.',
  'Sessions keep every message in PostgreSQL, ordered by a per-session sequence number.',
  'Milvus holds the embeddings of document chunks; Neo4j holds the entities they mention.',
].join('\n');

export function setup() {
  const token = register('retriever');
  const upload = http.post(
    `${BASE_URL}/v1/documents`,
    { file: http.file(DOCUMENT, 'assistants.txt', 'text/plain'), title: 'assistants' },
    {
      headers: { authorization: `Bearer ${token}` },
    },
  );
  if (upload.status !== 202) throw new Error(`upload answered ${upload.status}: ${upload.body}`);
  const id = /** @type {{ document: { id: string } }} */ (upload.json()).document.id;
  for (let i = 0; i < 120; i++) {
    const status = /** @type {{ document: { status: string } }} */ (
      http.get(`${BASE_URL}/v1/documents/${id}`, { headers: { authorization: `Bearer ${token}` } }).json()
    ).document.status;
    if (status === 'ready') break;
    if (status === 'failed') throw new Error('the document failed to ingest');
    sleep(1);
  }
  return { token, sessions: Array.from({ length: VUS }, () => createSession(token)) };
}

const QUESTIONS = [
  'what does a barge-in store?',
  'where are messages kept?',
  'which store holds entities?',
  'how are answers streamed?',
];

/** @param {{ token: string, sessions: string[] }} data */
export default function (data) {
  const me = exec.vu.idInTest;
  const sessionId = data.sessions[me % data.sessions.length];
  let step = 0;
  connect(data.token, (io) => {
    io.emit('session:join', { sessionId }, (answer) => {
      failures.add(!answer.ok);
      if (!answer.ok) return io.close();
      io.socket.setInterval(() => {
        const started = Date.now();
        if (Math.random() < RETRIEVE_SHARE) {
          io.emit('retrieve', { query: QUESTIONS[step++ % QUESTIONS.length], topK: 3, sessionId }, (result) => {
            failures.add(!result.ok);
            if (!result.ok) return;
            retrieveLatency.add(Date.now() - started);
            degraded.add(result.data.degraded !== undefined);
          });
        } else {
          io.emit('message:send', { sessionId, clientMsgId: `mix-${me}-${step++}`, content: 'a question' }, (ack) => {
            failures.add(!ack.ok);
            if (ack.ok) ackLatency.add(Date.now() - started);
          });
        }
      }, STEP_MS);
      io.socket.setTimeout(() => io.close(), DURATION_S * 1000);
    });
  });
}
