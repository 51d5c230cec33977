import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/cluster.js';
import { tempDir } from '../helpers/env.js';
import { call } from '../helpers/http.js';
import { type NodeProcess, startNodeProcess, waitForReady } from '../helpers/node-process.js';
import { freePort } from '../helpers/ports.js';

// What a newcomer does after `npm start`, in Debian's chromium through playwright-core: a
// node on the embedded default, with the reference assistant it starts (the test venv's
// Python, VOICEHELPER_TEST_PYTHON); sign up, upload a document, ask it by voice through the
// fake microphone (a question espeak-ng speaks, then silence), see the transcript, read and
// hear the answer, and talk over it. SCREENSHOT_DIR=docs/screenshots refreshes the README's.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const shots = process.env['SCREENSHOT_DIR'] ?? tempDir('vh-assistant-shots-');
/** Python's start, the embedded database, and an answer, on a loaded machine. */
const ASSISTANT_MS = 90_000;

const DOCUMENT = [
  'Maria Lopez leads the support team.',
  'The support team answers calls from nine in the morning to five in the evening, every working day.',
  'Every support ticket gets an answer within one day, and urgent tickets within one hour.',
  'The support team works from the office in Lisbon and meets every Monday to review the week.',
].join(' ');
const QUESTION = 'Who leads the support team?';

/** Seconds of sound in a 16-bit mono WAV that espeak-ng wrote. */
function wavSeconds(file: string): number {
  const wav = readFileSync(file);
  return (wav.length - 44) / (2 * wav.readUInt32LE(24));
}

interface StoredMessage {
  role: string;
  content: string;
  contentType: string;
  metadata: Record<string, unknown>;
}

describe('asking the assistant by voice in the browser app (chromium, embedded default)', () => {
  let node: NodeProcess | undefined;
  let browser: Browser;
  let url: string;
  let spokenSeconds: number;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (npm test installs it)`).toBe(true);
    const python = process.env['VOICEHELPER_TEST_PYTHON'];
    expect(python, 'VOICEHELPER_TEST_PYTHON (npm test sets it)').toBeTruthy();
    mkdirSync(shots, { recursive: true });
    const dir = tempDir('vh-assistant-voice-');
    // The fake microphone loops its file: the question, then silence to stop talking in.
    const spoken = path.join(dir, 'question.wav');
    execFileSync('espeak-ng', ['-w', spoken, QUESTION]);
    spokenSeconds = wavSeconds(spoken);
    const microphone = path.join(dir, 'microphone.wav');
    execFileSync('espeak-ng', ['-m', '-w', microphone, `<speak>${QUESTION}<break time="4000ms"/></speak>`]);

    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    node = startNodeProcess({
      DATA_DIR: tempDir(),
      PORT: String(port),
      EMBEDDED_PG_PORT: String(await freePort()),
      ASSISTANT_PYTHON: python as string,
    });
    await waitForReady(url, node, 120);
    await eventually(() => expect(node?.output()).toContain('"msg":"assistant started"'), ASSISTANT_MS);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${microphone}`,
        '--autoplay-policy=no-user-gesture-required',
      ],
    });
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    if (node !== undefined && node.child.exitCode === null) {
      node.child.kill('SIGTERM');
      await node.exited;
    }
  });

  const live = (page: Page, key: string) =>
    page
      .getByTestId('live')
      .evaluate((el, name) => (el as unknown as { dataset: Record<string, string | undefined> }).dataset[name], key);
  const assistantSpeaks = (page: Page) =>
    page.locator('[data-testid="speakers"] .speaker[data-role="assistant"]').count();

  it('transcribes the question, answers it from the document in text and voice, and stops when talked over', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    await page.goto(url);
    const email = `voice-${Date.now()}@example.test`;
    const password = 'correct horse battery';
    await page.getByPlaceholder('Email').fill(email);
    await page.getByPlaceholder('Name (to create an account)').fill('Newcomer');
    await page.getByPlaceholder('Password').fill(password);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 15_000 }).toBe('connected');
    const login = await call(url, 'POST', '/v1/auth/login', { body: { email, password } });
    expect(login.status).toBe(200);
    const token = login.body['accessToken'] as string;

    // A short document, uploaded through the page, becomes ready.
    await page.getByRole('button', { name: 'Documents' }).click();
    await page
      .getByLabel('Document')
      .setInputFiles({ name: 'support.txt', mimeType: 'text/plain', buffer: Buffer.from(DOCUMENT) });
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect
      .poll(() => page.locator('tr', { hasText: 'support' }).getByTestId('status').textContent(), {
        timeout: 60_000,
      })
      .toBe('ready');

    // A new session goes to the assistant the node runs.
    await page.getByRole('button', { name: 'Conversations' }).click();
    await page.getByRole('button', { name: 'New session' }).click();
    await expect.poll(() => page.locator('.sessions li.active').count(), { timeout: 15_000 }).toBe(1);
    const sessionId = (await page.locator('.sessions li.active').getAttribute('data-id')) as string;
    await eventually(async () => {
      const session = await call(url, 'GET', `/v1/sessions/${sessionId}`, { token });
      expect(session.body['session']['agentStatus']).toMatchObject({ state: 'assigned' });
    }, ASSISTANT_MS);
    const history = async (): Promise<StoredMessage[]> => {
      const response = await call(url, 'GET', `/v1/sessions/${sessionId}/messages?limit=100`, { token });
      expect(response.status).toBe(200);
      return response.body['messages'] as StoredMessage[];
    };

    // A typed question is answered too (and shows the assistant is in the session).
    await page.getByLabel('Message').fill('When does the support team answer calls?');
    await page.getByLabel('Message').press('Enter');
    await expect
      .poll(() => page.locator('.message.assistant').first().textContent(), { timeout: ASSISTANT_MS })
      .toMatch(/nine in the morning/);
    // Its spoken answer ends before the user talks.
    await expect.poll(() => assistantSpeaks(page), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => assistantSpeaks(page), { timeout: 60_000 }).toBe(0);

    // Asked by voice: Talk, the question, Stop.
    const answered = await page.locator('.message.assistant').count();
    await page.getByTestId('talk').click();
    await expect.poll(() => page.getByTestId('talk').textContent()).toContain('Stop');
    await page.waitForTimeout(Math.round(spokenSeconds * 1000) + 400);
    await page.getByTestId('talk').click();
    const asked = page.locator('.message.user', { hasText: 'audio' }).last();
    // The transcript replaces the audio message's text as the assistant stores it.
    await expect.poll(() => asked.locator('div').nth(1).textContent(), { timeout: ASSISTANT_MS }).toMatch(/support/);
    // The answer streams as text, then is stored; it is heard, not only shown.
    await expect
      .poll(() => page.locator('.message.assistant').count(), { timeout: ASSISTANT_MS })
      .toBeGreaterThan(answered);
    expect(await page.locator('.message.assistant').nth(answered).textContent()).toMatch(/Maria Lopez/);
    expect(Number(await live(page, 'firstDeltaAt'))).toBeGreaterThan(Number(await live(page, 'talkEndedAt')));
    await expect.poll(() => assistantSpeaks(page), { timeout: 30_000 }).toBe(1);
    await expect
      .poll(async () => Number(await live(page, 'assistantPlaysAt')), { timeout: 30_000 })
      .toBeGreaterThan(Number(await live(page, 'talkEndedAt')));
    expect(Number(await live(page, 'peak'))).toBeGreaterThan(0.05);
    const transcript = (await asked.locator('div').nth(1).textContent()) ?? '';
    await page.screenshot({ path: path.join(shots, 'assistant-voice.png') });
    const stored = await history();
    expect(stored.filter((m) => m.role === 'user' && m.contentType === 'audio').at(-1)?.content).toBe(transcript);

    // Talked over while it speaks: the page stops playing it at once, and the assistant
    // stops and stores what was heard as an interrupted turn.
    const hushed = Number(await live(page, 'hushed'));
    await page.getByTestId('talk').click();
    await expect.poll(async () => Number(await live(page, 'hushed'))).toBeGreaterThan(hushed);
    await eventually(async () => {
      const cut = (await history()).filter((m) => m.role === 'assistant' && m.metadata['interrupted'] === true);
      expect(cut.length).toBeGreaterThan(0);
    }, 30_000);
    await page.waitForTimeout(Math.round(spokenSeconds * 1000) + 400);
    await page.getByTestId('talk').click();
    await context.close();
  }, 420_000);
});
