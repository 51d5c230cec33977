#!/usr/bin/env node
// Load generator that speaks the VoiceHelper protocol over Socket.IO (Node, socket.io-client).
//
//   node load-tests/session-load.mjs                       # 100 clients, 2 per session, 10 s, closed loop
//   URLS=http://127.0.0.1:3000,http://127.0.0.1:3001 CLIENTS=1000 PER_SESSION=10 MODE=open RATE=2000 node load-tests/session-load.mjs
//
// Each session belongs to one registered user; its clients are spread over the node URLs.
// Closed loop: every client sends, waits for the ack, sends again. Open loop: RATE messages
// per second in total, whatever the acks do. Prints acked messages/s with ack latency and
// message:new deliveries/s with delivery latency (send to receipt, same machine clock).
// Bounded: it stops after DURATION seconds (plus a short drain) by itself.
//
// With WORKER_API_KEY (a service account's key: voicehelper users create --role service,
// voicehelper keys create), simulated assistant workers answer every user message: one
// worker socket per node joins its share of the sessions and streams DELTAS deltas (after
// THINK_MS) and a final assistant message, so the server's turn-latency histograms
// (voicehelper_turn_*_seconds) are exercised under load; they are read from /metrics of
// every node at the end and printed as p50/p99 (bucket bounds). Each answer also speaks
// AUDIO_CHUNKS chunks of 2 KiB (audio:start, audio:chunk, audio:end; 0 for none).
import { io } from 'socket.io-client';

const env = (name, fallback) => process.env[name] ?? fallback;
const urls = env('URLS', 'http://127.0.0.1:3000').split(',');
const clients = Number(env('CLIENTS', 100));
const perSession = Number(env('PER_SESSION', 2));
const seconds = Number(env('DURATION', 10));
const mode = env('MODE', 'closed');
const rate = Number(env('RATE', 1000));
const sessions = Math.ceil(clients / perSession);
const workerKey = process.env.WORKER_API_KEY;
const deltasPerAnswer = Number(env('DELTAS', 4));
const thinkMs = Number(env('THINK_MS', 0));
const audioChunks = Number(env('AUDIO_CHUNKS', 2));

for (const url of urls) {
  const host = new URL(url).hostname;
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
    console.error(`refusing to load ${url}: only loopback targets are allowed here`);
    process.exit(2);
  }
}

function percentile(sorted, p) {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function register(i) {
  const response = await fetch(`${urls[0]}/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `load-${process.pid}-${Date.now()}-${i}@example.test`, username: `load${i}`, password: 'load-test-password' }),
  });
  if (response.status !== 201) throw new Error(`register failed: ${response.status} ${await response.text()}`);
  return (await response.json()).accessToken;
}

function connect(url, token) {
  const socket = io(url, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

/** Simulated assistant workers: one socket per node, answering each user message of its sessions. */
async function startWorkers(sessionIds) {
  const response = await fetch(`${urls[0]}/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey: workerKey }) });
  if (response.status !== 200) throw new Error(`the worker's API key was refused: ${response.status} ${await response.text()}`);
  const { accessToken } = await response.json();
  const workers = [];
  for (const [i, url] of urls.entries()) {
    const socket = await connect(url, accessToken);
    const mine = sessionIds.filter((_, s) => s % urls.length === i);
    for (const sessionId of mine) await socket.emitWithAck('session:join', { sessionId });
    let turn = 0;
    socket.on('message:new', async ({ message }) => {
      if (message.role !== 'user' || !mine.includes(message.sessionId)) return;
      const streamId = `w${i}-${turn++}`;
      if (thinkMs > 0) await new Promise((r) => setTimeout(r, thinkMs));
      for (let index = 0; index < deltasPerAnswer; index++) {
        socket.emit('message:delta', { sessionId: message.sessionId, streamId, index, delta: 'a few words ' });
      }
      if (audioChunks > 0) {
        // Chunks go only to a started stream: the start's ack is awaited.
        await socket.timeout(30_000).emitWithAck('audio:start', { sessionId: message.sessionId, streamId: `${streamId}-voice`, mimeType: 'audio/ogg' }).catch(() => undefined);
        for (let index = 0; index < audioChunks; index++) socket.emit('audio:chunk', { streamId: `${streamId}-voice`, index, data: speech });
      }
      const ack = await socket
        .timeout(30_000)
        .emitWithAck('message:send', { sessionId: message.sessionId, clientMsgId: streamId, role: 'assistant', content: 'a few words '.repeat(deltasPerAnswer), metadata: { streamId } })
        .catch((error) => ({ ok: false, error: { code: error.message } }));
      if (audioChunks > 0) await socket.timeout(30_000).emitWithAck('audio:end', { streamId: `${streamId}-voice`, clientMsgId: `${streamId}-voice` }).catch(() => undefined);
      if (!measuring) return;
      if (ack.ok) answered++;
      else errors.set(`worker ${ack.error.code}`, (errors.get(`worker ${ack.error.code}`) ?? 0) + 1);
    });
    workers.push(socket);
  }
  return workers;
}

/** p50 and p99 of a Prometheus histogram summed over every node (upper bucket bounds). */
async function turnHistograms() {
  const buckets = new Map();
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const [, name, le, count] of text.matchAll(/^(voicehelper_turn_\w+_seconds)_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)) {
      const byLe = buckets.get(name) ?? new Map();
      byLe.set(le, (byLe.get(le) ?? 0) + Number(count));
      buckets.set(name, byLe);
    }
  }
  for (const [name, byLe] of buckets) {
    const rows = [...byLe.entries()].map(([le, count]) => [le === '+Inf' ? Infinity : Number(le), count]).sort((a, b) => a[0] - b[0]);
    const total = rows[rows.length - 1]?.[1] ?? 0;
    const at = (p) => (total === 0 ? '-' : `${rows.find(([, count]) => count >= total * p)?.[0]} s`);
    console.log(`${name.padEnd(38)} n ${String(total).padStart(7)}   p50 <= ${at(0.5)}   p99 <= ${at(0.99)}`);
  }
}

let answered = 0;
const speech = Buffer.alloc(2048, 1);
const ackLatencies = [];
const deliveryLatencies = [];
const errors = new Map();
let acked = 0;
let delivered = 0;
let measuring = false;

async function main() {
  console.log(`${clients} clients, ${sessions} sessions (${perSession} per session), ${urls.length} node(s), ${mode} loop${mode === 'open' ? ` at ${rate} msg/s` : ''}, ${seconds}s`);
  const all = [];
  const sessionIds = [];
  for (let s = 0; s < sessions; s++) {
    const token = await register(s);
    let sessionId;
    for (let c = 0; c < perSession && all.length < clients; c++) {
      const socket = await connect(urls[all.length % urls.length], token);
      if (c === 0) {
        const ack = await socket.emitWithAck('session:create', { title: `load ${s}` });
        sessionId = ack.data.session.id;
        sessionIds.push(sessionId);
      } else {
        await socket.emitWithAck('session:join', { sessionId });
      }
      socket.on('message:new', ({ message }) => {
        if (!measuring || message.role !== 'user') return;
        delivered++;
        const sentAt = message.metadata?.sentAt;
        if (typeof sentAt === 'number') deliveryLatencies.push(Date.now() - sentAt);
      });
      all.push({ socket, sessionId, n: 0 });
    }
  }

  const workers = workerKey === undefined ? [] : await startWorkers(sessionIds);
  if (workers.length > 0) console.log(`${workers.length} simulated worker(s) answer each user message with ${deltasPerAnswer} deltas and a final message${thinkMs > 0 ? ` after ${thinkMs} ms` : ''}`);

  const send = async (client) => {
    const sentAt = Date.now();
    const ack = await client.socket.timeout(30_000).emitWithAck('message:send', {
      sessionId: client.sessionId,
      clientMsgId: `${client.socket.id}-${client.n++}`,
      content: 'a short voice turn of about sixty characters, as transcribed',
      metadata: { sentAt },
    }).catch((error) => ({ ok: false, error: { code: error.message } }));
    if (!measuring) return;
    if (ack.ok) {
      acked++;
      ackLatencies.push(Date.now() - sentAt);
    } else {
      errors.set(ack.error.code, (errors.get(ack.error.code) ?? 0) + 1);
    }
  };

  measuring = true;
  const started = Date.now();
  const deadline = started + seconds * 1000;
  if (mode === 'open') {
    const pending = [];
    let next = 0;
    let sent = 0;
    while (Date.now() < deadline) {
      const due = Math.floor(((Date.now() - started) / 1000) * rate);
      while (sent < due) {
        pending.push(send(all[next++ % all.length]));
        sent++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.race([Promise.all(pending), new Promise((r) => setTimeout(r, 5_000))]);
  } else {
    await Promise.all(all.map(async (client) => {
      while (Date.now() < deadline) await send(client);
    }));
  }
  const elapsed = (Date.now() - started) / 1000;
  await new Promise((r) => setTimeout(r, 500));
  measuring = false;
  ackLatencies.sort((a, b) => a - b);
  deliveryLatencies.sort((a, b) => a - b);
  console.log(`acked     ${(acked / elapsed).toFixed(0).padStart(8)} msg/s    ack p50 ${percentile(ackLatencies, 50)} ms  p95 ${percentile(ackLatencies, 95)} ms  p99 ${percentile(ackLatencies, 99)} ms`);
  console.log(`delivered ${(delivered / elapsed).toFixed(0).padStart(8)} msg/s    delivery p50 ${percentile(deliveryLatencies, 50)} ms  p95 ${percentile(deliveryLatencies, 95)} ms  p99 ${percentile(deliveryLatencies, 99)} ms`);
  if (workers.length > 0) {
    console.log(`answered  ${(answered / elapsed).toFixed(0).padStart(8)} turns/s (worker deltas and final messages)`);
    await turnHistograms();
  }
  if (errors.size > 0) console.log('errors', Object.fromEntries(errors));
  for (const { socket } of all) socket.close();
  for (const socket of workers) socket.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
