import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../helpers/cluster.js';
import { tempDir } from '../helpers/env.js';

// Live voice in the browser app (dist/web, which `npm run build` bundles), in Debian's
// chromium through playwright-core: two browser contexts of one user on two nodes, the
// first talking into the fake microphone (a WAV that espeak-ng speaks, looped), the second
// hearing it through Web Audio while the first still talks.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

describe('live voice between two browser contexts on two nodes (chromium)', () => {
  let cluster: TestCluster;
  let browser: Browser;
  const email = `live-${Date.now()}@example.test`;
  const password = 'correct horse battery';
  const shots = tempDir('vh-live-shots-');

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (npm test installs it)`).toBe(true);
    const wav = path.join(tempDir('vh-live-voice-'), 'voice.wav');
    execFileSync('espeak-ng', ['-w', wav, 'Hello there, can you hear me while I am still talking?']);
    cluster = await TestCluster.start(2);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${wav}`,
      ],
    });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  const open = async (node: number): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    await page.goto(cluster.urls[node] as string);
    return { context, page };
  };
  const signIn = async (page: Page, button: 'Sign in' | 'Create account') => {
    await page.getByPlaceholder('Email').fill(email);
    if (button === 'Create account') await page.getByPlaceholder('Name (to create an account)').fill('Live');
    await page.getByPlaceholder('Password').fill(password);
    await page.getByRole('button', { name: button }).click();
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 15_000 }).toBe('connected');
  };
  const live = (page: Page, name: 'framesScheduled' | 'audioState' | 'peak') =>
    page
      .getByTestId('live')
      .evaluate((el, key) => (el as unknown as { dataset: Record<string, string> }).dataset[key], name);

  it("plays the first context's speech on the second as it is spoken, shows who speaks, and keeps the utterance playable", async () => {
    const a = await open(0);
    await signIn(a.page, 'Create account');
    await a.page.getByRole('button', { name: 'New session' }).click();
    await expect.poll(() => a.page.locator('.sessions li').count()).toBe(1);

    const b = await open(1);
    await signIn(b.page, 'Sign in');
    await b.page.locator('.sessions li').first().click();
    await expect.poll(() => b.page.locator('.sessions li.active').count()).toBe(1);

    await a.page.getByTestId('talk').click();
    await expect.poll(() => a.page.getByTestId('talk').textContent()).toContain('Stop');

    // While the first context still talks (it stops only after these hold): the second one
    // shows the speaker and has speech, not silence, scheduled in a running AudioContext.
    await expect
      .poll(() => b.page.locator('[data-testid="speakers"] .speaker[data-role="user"]').count(), { timeout: 15_000 })
      .toBe(1);
    await expect.poll(() => live(b.page, 'audioState'), { timeout: 15_000 }).toBe('running');
    await expect
      .poll(async () => Number(await live(b.page, 'framesScheduled')), { timeout: 15_000 })
      .toBeGreaterThan(10);
    await expect.poll(async () => Number(await live(b.page, 'peak')), { timeout: 15_000 }).toBeGreaterThan(0.05);
    expect(await b.page.locator('.message').count()).toBe(0);
    expect(await a.page.getByTestId('talk').textContent()).toContain('Stop');
    await b.page.screenshot({ path: path.join(shots, 'live-voice.png') });

    await a.page.getByTestId('talk').click();
    for (const page of [a.page, b.page]) {
      await expect
        .poll(() => page.locator('.message[data-seq="1"] .meta').textContent(), { timeout: 15_000 })
        .toMatch(/#1 user · audio \(\d/);
    }
    await expect.poll(() => b.page.locator('[data-testid="speakers"] .speaker').count()).toBe(0);

    // The stored audio/l16 plays on both sides as WAV, from what each spoke or heard.
    for (const page of [a.page, b.page]) {
      await page.locator('.message[data-seq="1"] button', { hasText: 'Play' }).click();
      const player = page.getByTestId('player');
      await expect
        .poll(() => player.evaluate((el) => (el as unknown as { readyState: number }).readyState), { timeout: 15_000 })
        .toBeGreaterThanOrEqual(1);
      expect(await player.evaluate((el) => (el as unknown as { error: unknown }).error)).toBeNull();
      expect(await player.evaluate((el) => (el as unknown as { duration: number }).duration)).toBeGreaterThan(0.2);
    }
    await a.context.close();
    await b.context.close();
  }, 120_000);
});
