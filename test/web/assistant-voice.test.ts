import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  askByVoice,
  assistantSpeaking,
  CHROMIUM,
  type EmbeddedNode,
  launchChromium,
  live,
  microphoneWav,
  newcomerSession,
  startEmbeddedNode,
} from '../../bench/voice-app.js';
import { eventually } from '../helpers/cluster.js';
import { tempDir } from '../helpers/env.js';
import { call } from '../helpers/http.js';

// What a newcomer does after `npm start`, in Debian's chromium through playwright-core: a
// node on the embedded default, with the reference assistant it starts (the test venv's
// Python, VOICEHELPER_TEST_PYTHON); sign up, upload a document, ask it by voice through the
// fake microphone (a question espeak-ng speaks, then silence), see the transcript, read and
// hear the answer, and talk over it. SCREENSHOT_DIR=docs/screenshots refreshes the README's.
const shots = process.env['SCREENSHOT_DIR'] ?? tempDir('vh-assistant-shots-');
/** An answer on a loaded machine. */
const ASSISTANT_MS = 90_000;

interface StoredMessage {
  role: string;
  content: string;
  contentType: string;
  metadata: Record<string, unknown>;
}

describe('asking the assistant by voice in the browser app (chromium, embedded default)', () => {
  let node: EmbeddedNode | undefined;
  let browser: Browser;
  let spokenMs: number;

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (npm test installs it)`).toBe(true);
    const python = process.env['VOICEHELPER_TEST_PYTHON'];
    expect(python, 'VOICEHELPER_TEST_PYTHON (npm test sets it)').toBeTruthy();
    mkdirSync(shots, { recursive: true });
    const microphone = microphoneWav(tempDir('vh-assistant-voice-'));
    spokenMs = microphone.spokenMs;
    node = await startEmbeddedNode(python as string);
    browser = await launchChromium(microphone.file);
  }, 240_000);
  afterAll(async () => {
    await browser?.close();
    await node?.stop();
  });

  it('transcribes the question, answers it from the document in text and voice, and stops when talked over', async () => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    const page = await context.newPage();
    const url = (node as EmbeddedNode).url;
    // Sign-up, the document (ready), and a new session the assistant has.
    const { sessionId, token } = await newcomerSession(page, url);
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
    await expect.poll(() => assistantSpeaking(page), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => assistantSpeaking(page), { timeout: 60_000 }).toBe(0);

    // Asked by voice: Talk, the question, Stop.
    const answered = await page.locator('.message.assistant').count();
    await askByVoice(page, spokenMs);
    const asked = page.locator('.message.user', { hasText: 'audio' }).last();
    // The transcript replaces the audio message's text as the assistant stores it.
    await expect.poll(() => asked.locator('div').nth(1).textContent(), { timeout: ASSISTANT_MS }).toMatch(/support/);
    // The answer streams as text, then is stored; it is heard, not only shown.
    await expect
      .poll(() => page.locator('.message.assistant').count(), { timeout: ASSISTANT_MS })
      .toBeGreaterThan(answered);
    expect(await page.locator('.message.assistant').nth(answered).textContent()).toMatch(/Maria Lopez/);
    expect(Number(await live(page, 'firstDeltaAt'))).toBeGreaterThan(Number(await live(page, 'talkEndedAt')));
    await expect.poll(() => assistantSpeaking(page), { timeout: 30_000 }).toBe(1);
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
    await page.waitForTimeout(spokenMs + 400);
    await page.getByTestId('talk').click();
    await context.close();
  }, 420_000);
});
