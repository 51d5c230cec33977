/**
 * A newcomer's steps in the browser app, driven through playwright-core: a node on the
 * embedded default with its assistant (as `npm start` runs it), Chromium whose fake
 * microphone speaks a question, sign-up, a document, a session the assistant serves, and a
 * spoken question. Shared by the voice benchmark (`npm run bench:voice`) and the browser
 * test of the same path (test/web/assistant-voice.test.ts).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { endProcess, freePort } from '../chaos/services.js';
import { packageRoot } from '../src/util/package-root.js';
import { waitUntil } from '../src/util/timeout.js';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** The document the newcomer uploads, and the question they ask of it. */
export const DOCUMENT = [
  'Maria Lopez leads the support team.',
  'The support team answers calls from nine in the morning to five in the evening, every working day.',
  'Every support ticket gets an answer within one day, and urgent tickets within one hour.',
  'The support team works from the office in Lisbon and meets every Monday to review the week.',
].join(' ');
export const QUESTION = 'Who leads the support team?';

/** Seconds of sound in a 16-bit mono WAV that espeak-ng wrote. */
function wavSeconds(file: string): number {
  const wav = readFileSync(file);
  return (wav.length - 44) / (2 * wav.readUInt32LE(24));
}

/**
 * The fake microphone's file (it loops): `question` as espeak-ng speaks it, then 4 s of
 * silence to stop talking in; and how long the question alone lasts.
 */
export function microphoneWav(dir: string, question = QUESTION): { file: string; spokenMs: number } {
  const spoken = path.join(dir, 'question.wav');
  execFileSync('espeak-ng', ['-w', spoken, question]);
  const file = path.join(dir, 'microphone.wav');
  execFileSync('espeak-ng', ['-m', '-w', file, `<speak>${question}<break time="4000ms"/></speak>`]);
  return { file, spokenMs: Math.round(wavSeconds(spoken) * 1000) };
}

export function launchChromium(microphone: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--use-fake-ui-for-media-stream',
      '--use-fake-device-for-media-stream',
      `--use-file-for-fake-audio-capture=${microphone}`,
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

/** A node on the embedded default (a data directory of its own) that runs the assistant. */
export interface EmbeddedNode {
  url: string;
  child: ChildProcess;
  /** Everything it (and its assistant, through it) wrote so far. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts `dist/src/main.js` as `npm start` does on the embedded default, with the assistant
 * run by `python` (a venv with the SDK and the assistant), and waits until it is ready and
 * its assistant started.
 */
export async function startEmbeddedNode(python: string, env: Record<string, string> = {}): Promise<EmbeddedNode> {
  const port = await freePort();
  // Embedded PostgreSQL runs as its own user when this runs as root: it must enter the directory.
  const data = mkdtempSync(path.join(tmpdir(), 'vh-voice-data-'));
  chmodSync(data, 0o755);
  const child = spawn(process.execPath, [path.join(packageRoot(), 'dist', 'src', 'main.js')], {
    env: {
      PATH: process.env['PATH'] ?? '',
      HOME: process.env['HOME'] ?? '/root',
      LOG_LEVEL: 'info',
      DATA_DIR: data,
      PORT: String(port),
      EMBEDDED_PG_PORT: String(await freePort()),
      ASSISTANT_PYTHON: python,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const node: EmbeddedNode = {
    url: `http://127.0.0.1:${port}`,
    child,
    output: () => output,
    stop: () => endProcess(child, 'SIGTERM'),
  };
  const started = await waitUntil(
    async () => {
      // An exit ends the wait at once (and fails it below).
      if (child.exitCode !== null) return true;
      return output.includes('"msg":"assistant started"') && (await fetch(`${node.url}/readyz`)).status === 200;
    },
    180_000,
    200,
  );
  if (!started || child.exitCode !== null) {
    await node.stop();
    throw new Error(`the node or its assistant did not start:\n${output}`);
  }
  return node;
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`POST ${url}: ${response.status}`);
  return (await response.json()) as Record<string, unknown>;
}

/**
 * Signs a new user up in the page, uploads `document` and waits until it is ready, opens a
 * new session and waits until the assistant has it. Returns the session's id and the
 * user's access token (from a login of their own, for the HTTP API).
 */
export async function newcomerSession(page: Page, url: string, document = DOCUMENT) {
  await page.goto(url);
  const email = `voice-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.test`;
  const password = 'correct horse battery';
  await page.getByPlaceholder('Email').fill(email);
  await page.getByPlaceholder('Name (to create an account)').fill('Newcomer');
  await page.getByPlaceholder('Password').fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByTestId('connection').getByText('connected', { exact: true }).waitFor({ timeout: 15_000 });
  const token = (await post(`${url}/v1/auth/login`, { email, password }))['accessToken'] as string;

  await page.getByRole('button', { name: 'Documents' }).click();
  await page
    .getByLabel('Document')
    .setInputFiles({ name: 'support.txt', mimeType: 'text/plain', buffer: Buffer.from(document) });
  await page.getByRole('button', { name: 'Upload' }).click();
  await page
    .locator('tr', { hasText: 'support' })
    .getByTestId('status')
    .getByText('ready', { exact: true })
    .waitFor({ timeout: 60_000 });

  await page.getByRole('button', { name: 'Conversations' }).click();
  await page.getByRole('button', { name: 'New session' }).click();
  const active = page.locator('.sessions li.active');
  await active.waitFor({ timeout: 15_000 });
  const sessionId = (await active.getAttribute('data-id')) as string;
  const assigned = await waitUntil(
    async () => {
      const response = await fetch(`${url}/v1/sessions/${sessionId}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = (await response.json()) as { session?: { agentStatus?: { state?: string } } };
      return body.session?.agentStatus?.state === 'assigned';
    },
    90_000,
    200,
  );
  if (!assigned) throw new Error('the assistant did not take the session');
  return { sessionId, token };
}

/** A value the page's live-voice element carries (`data-*`). */
export function live(page: Page, key: string): Promise<string | undefined> {
  return page
    .getByTestId('live')
    .evaluate((el, name) => (el as unknown as { dataset: Record<string, string | undefined> }).dataset[name], key);
}

/** How many assistant streams the page is playing. */
export function assistantSpeaking(page: Page): Promise<number> {
  return page.locator('[data-testid="speakers"] .speaker[data-role="assistant"]').count();
}

/** Presses Talk, lets the fake microphone speak the question, and presses Stop. */
export async function askByVoice(page: Page, spokenMs: number): Promise<void> {
  const talk = page.getByTestId('talk');
  await talk.click();
  await talk.getByText('Stop').waitFor({ timeout: 15_000 });
  await page.waitForTimeout(spokenMs + 400);
  await talk.click();
}
