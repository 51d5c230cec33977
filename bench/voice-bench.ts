/**
 * Voice-to-voice latency, end to end in Chromium: a node on the embedded default with its
 * reference assistant (as `npm start` runs it), a user who asks a question about their
 * document by voice through the fake microphone, again and again. For each turn, from the
 * moment the page sends `audio:end` (the user stopped talking):
 *
 * - first audio played: when the assistant's first frame starts playing in the page;
 * - first audio received: when that frame reached the page (played = received + the
 *   page's jitter buffer);
 * - first text: the first `message:delta` of the answer;
 *
 * and the split of "received", from the assistant's own clock (its `answer timings` log):
 * transcription (audio:ended to transcript), retrieval, first sentence, synthesis, and the
 * rest, which is the server and loopback on the path: the user's last frames, storing the
 * utterance and pushing `audio:ended`, `audio:start`'s round trip, and relaying the first
 * frame (received minus the assistant's own steps; an upper bound on the server's share,
 * since both ends' event loops and socket.io's encoding are in it too). The server's own
 * share is read from its histograms: storing the utterance (`audio:end`) and relaying the
 * first frame (`audio:chunk`), means over the run.
 *
 *   npm run bench:voice                  # 20 turns
 *   npm run bench:voice -- --turns 40 --json
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { waitUntil } from '../src/util/timeout.js';
import {
  askByVoice,
  assistantSpeaking,
  launchChromium,
  live,
  microphoneWav,
  newcomerSession,
  startEmbeddedNode,
} from './voice-app.js';

const { values } = parseArgs({
  options: { turns: { type: 'string', default: '20' }, json: { type: 'boolean', default: false } },
});
const turns = Number(values.turns);
if (!Number.isInteger(turns) || turns < 1) throw new Error('--turns takes a whole number of at least 1');
const python = process.env['ASSISTANT_PYTHON'];
if (python === undefined || python === '')
  throw new Error(
    'ASSISTANT_PYTHON is unset: run this as `npm run bench:voice` (scripts/bench-voice.sh makes the venv)',
  );

const TARGET_P50_MS = 600;
const TARGET_P99_MS = 1200;
const TARGET_SERVER_MS = 20;

interface AnswerTimings {
  voice: boolean;
  heard?: number;
  retrieved?: number;
  first_text?: number;
  first_delta?: number;
  synthesized?: number;
  stream_opened?: number;
  first_frame?: number;
}

interface Turn {
  played: number;
  received: number;
  firstText: number;
  transcription: number;
  retrieval: number;
  firstSentence: number;
  synthesis: number;
  streamOpen: number;
  assistant: number;
  serverAndLoopback: number;
}

/** The `answer timings` lines the assistant logged, in order (the node logs each of its lines as a JSON `msg`). */
function answerTimings(output: string): AnswerTimings[] {
  const found: AnswerTimings[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('answer timings {')) continue;
    try {
      const msg = (JSON.parse(line) as { msg: string }).msg;
      found.push(JSON.parse(msg.slice(msg.indexOf('answer timings {') + 'answer timings '.length)) as AnswerTimings);
    } catch {
      // a line cut short (the node logs at most MAX_LINE characters of one): skipped
    }
  }
  return found;
}

/**
 * The node's own handling time per event, mean ms over the run, from its histogram
 * (`voicehelper_socket_event_duration_seconds`): `audio:end` stores an utterance (the
 * object, then the PostgreSQL commit) before `audio:ended` goes out.
 */
async function serverHandling(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (kind: 'sum' | 'count', event: string) =>
    Number(
      new RegExp(
        `^voicehelper_socket_event_duration_seconds_${kind}\\{[^}]*event="${event}"[^}]*\\} (\\S+)$`,
        'm',
      ).exec(text)?.[1] ?? Number.NaN,
    );
  const means = new Map<string, number>();
  for (const event of ['audio:start', 'audio:chunk', 'audio:end'])
    means.set(event, (read('sum', event) / read('count', event)) * 1000);
  return means;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** The first value `read` gives, within `timeoutMs`; throws naming `what` after it. */
async function waitFor<T>(what: string, read: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  let value: T | undefined;
  const found = await waitUntil(
    async () => {
      value = await read();
      return value !== undefined;
    },
    timeoutMs,
    10,
  );
  if (!found) throw new Error(`timed out waiting for ${what}`);
  return value as T;
}

async function main(): Promise<void> {
  const microphone = microphoneWav(mkdtempSync(path.join(tmpdir(), 'vh-bench-voice-')));
  const node = await startEmbeddedNode(python as string);
  const browser = await launchChromium(microphone.file);
  const results: Turn[] = [];
  let handling: Map<string, number> = new Map();
  try {
    const page = await (await browser.newContext()).newPage();
    await newcomerSession(page, node.url);
    let previousStream: string | undefined;
    let logged = answerTimings(node.output()).filter((t) => t.voice).length;
    for (let turn = 0; turn < turns; turn++) {
      await askByVoice(page, microphone.spokenMs);
      const stream = await waitFor(
        'the answer to be heard',
        async () => {
          const id = await live(page, 'assistantStream');
          return id !== undefined && id !== previousStream ? id : undefined;
        },
        60_000,
      );
      previousStream = stream;
      const talkEnded = Number(await live(page, 'talkEndedAt'));
      const firstDelta = Number(await waitFor('the first delta', () => live(page, 'firstDeltaAt'), 30_000));
      const received = Number(await live(page, 'assistantReceivedAt')) - talkEnded;
      const played = Number(await live(page, 'assistantPlaysAt')) - talkEnded;
      const timings = await waitFor(
        "the assistant's timings",
        async () => answerTimings(node.output()).filter((t) => t.voice)[logged],
        10_000,
      );
      logged++;
      const at = (step: keyof AnswerTimings) => Number(timings[step] ?? Number.NaN);
      results.push({
        played,
        received,
        firstText: firstDelta - talkEnded,
        transcription: at('heard'),
        retrieval: at('retrieved') - at('heard'),
        firstSentence: at('first_text') - at('retrieved'),
        synthesis: at('synthesized') - at('first_text'),
        // The stream opens while the first sentence is synthesized: only a wait beyond that is on the path.
        streamOpen: Math.max(0, at('stream_opened') - at('synthesized')),
        assistant: at('first_frame'),
        serverAndLoopback: received - at('first_frame') + Math.max(0, at('stream_opened') - at('synthesized')),
      });
      if (!values.json)
        console.error(
          `turn ${turn + 1}/${turns}: played ${played.toFixed(0)} ms, text ${(firstDelta - talkEnded).toFixed(0)} ms`,
        );
      // The answer is heard to its end before the next question.
      await waitFor(
        'the answer to end',
        async () => ((await assistantSpeaking(page)) === 0 ? true : undefined),
        120_000,
      );
    }
    handling = await serverHandling(node.url);
  } finally {
    await browser.close();
    await node.stop();
  }

  const column = (key: keyof Turn) => results.map((r) => r[key]);
  const summary = Object.fromEntries(
    (Object.keys(results[0] as Turn) as (keyof Turn)[]).map((key) => [
      key,
      { p50: percentile(column(key), 50), p99: percentile(column(key), 99) },
    ]),
  ) as Record<keyof Turn, { p50: number; p99: number }>;
  // On the path: storing the utterance before audio:ended goes out, and relaying the first
  // frame (audio:start is opened during synthesis). The rest of "server and loopback" is
  // socket.io's framing, loopback, and the page's and the assistant's event loops.
  const serverOwn = (handling.get('audio:end') ?? Number.NaN) + (handling.get('audio:chunk') ?? Number.NaN);
  if (values.json) {
    console.log(
      JSON.stringify(
        {
          turns,
          summary,
          serverHandlingMs: Object.fromEntries(handling),
          serverShareMs: serverOwn,
          results,
        },
        null,
        2,
      ),
    );
    return;
  }
  const row = (label: string, key: keyof Turn) =>
    `${label.padEnd(50)} ${summary[key].p50.toFixed(0).padStart(6)} ${summary[key].p99.toFixed(0).padStart(6)}`;
  console.log(
    `\nVoice to voice over ${turns} turns (ms after the page sent audio:end; p99 of ${turns} is near the max)`,
  );
  console.log(`${''.padEnd(50)} ${'p50'.padStart(6)} ${'p99'.padStart(6)}`);
  console.log(row('first assistant audio played in the page', 'played'));
  console.log(row('first assistant audio received by the page', 'received'));
  console.log(row('first assistant text (message:delta)', 'firstText'));
  console.log('split of "received":');
  console.log(row('  transcription (audio:ended to transcript)', 'transcription'));
  console.log(row('  retrieval', 'retrieval'));
  console.log(row('  first sentence', 'firstSentence'));
  console.log(row('  synthesis of the first sentence', 'synthesis'));
  console.log(row('  server and loopback', 'serverAndLoopback'));
  console.log(row('    of which audio:start beyond the synthesis', 'streamOpen'));
  console.log(
    `the node's own handling, mean over every stream of the run: ${[...handling]
      .map(([event, ms]) => `${event} ${ms.toFixed(2)} ms`)
      .join(', ')}`,
  );
  console.log(
    `the server's own share of the path (audio:end + one audio:chunk, from its histograms): ${serverOwn.toFixed(1)} ms`,
  );
  const misses: string[] = [];
  const largest = (['transcription', 'retrieval', 'firstSentence', 'synthesis', 'serverAndLoopback'] as const)
    .map((key) => [key, summary[key].p50] as const)
    .sort((a, b) => b[1] - a[1])[0];
  if (summary.played.p50 > TARGET_P50_MS) misses.push(`p50 ${summary.played.p50.toFixed(0)} ms > ${TARGET_P50_MS}`);
  if (summary.played.p99 > TARGET_P99_MS) misses.push(`p99 ${summary.played.p99.toFixed(0)} ms > ${TARGET_P99_MS}`);
  if (!(serverOwn <= TARGET_SERVER_MS)) misses.push(`server share ${serverOwn.toFixed(1)} ms > ${TARGET_SERVER_MS}`);
  console.log(
    misses.length === 0
      ? `targets met (first audio p50 <= ${TARGET_P50_MS} ms, p99 <= ${TARGET_P99_MS} ms, server share <= ${TARGET_SERVER_MS} ms)`
      : `targets missed: ${misses.join('; ')}; largest component of first audio: ${largest?.[0]} (p50 ${largest?.[1].toFixed(0)} ms)`,
  );
}

await main();
