import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, TestCluster } from '../helpers/cluster.js';
import { freshDatabase } from '../helpers/database.js';
import { tempDir } from '../helpers/env.js';

// The browser app at `/`, driven in Debian's chromium through playwright-core. The fake
// microphone plays a WAV that espeak-ng speaks. SCREENSHOT_DIR=docs/screenshots refreshes
// the screenshots of the README; otherwise they go to a temporary directory.
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const shots = process.env['SCREENSHOT_DIR'] ?? tempDir('vh-shots-');

describe('the browser app (chromium, two browser contexts)', () => {
  let cluster: TestCluster;
  let browser: Browser;
  let url: string;
  const violations: string[] = [];
  const email = `e2e-${Date.now()}@example.test`;
  const password = 'correct horse battery';

  beforeAll(async () => {
    expect(existsSync(CHROMIUM), `chromium at ${CHROMIUM} (npm test installs it)`).toBe(true);
    const wav = path.join(tempDir('vh-voice-'), 'voice.wav');
    execFileSync('espeak-ng', ['-w', wav, 'Hello, what is the weather like in Berlin today?']);
    mkdirSync(shots, { recursive: true });
    // A database of its own: the admin screen changes the cluster-wide rate limits.
    cluster = await TestCluster.start(1, { EMBEDDING_DIM: '256', DATABASE_URL: await freshDatabase() });
    url = cluster.urls[0] as string;
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

  const open = async (): Promise<{ context: BrowserContext; page: Page }> => {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    const page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(url);
    return { context, page };
  };
  const signIn = async (page: Page, who: string, button: 'Sign in' | 'Create account') => {
    await page.getByPlaceholder('Email').fill(who);
    if (button === 'Create account') await page.getByPlaceholder('Name (to create an account)').fill('E2E');
    await page.getByPlaceholder('Password').fill(password);
    await page.getByRole('button', { name: button }).click();
    await expect.poll(() => page.getByTestId('connection').textContent(), { timeout: 15_000 }).toBe('connected');
  };

  it('serves the page under a CSP that allows only its own scripts', async () => {
    const response = await fetch(url);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
    expect(await response.text()).not.toMatch(/<script>[^<]/);
  });

  it('signs up, talks, and shows text and audio live on a second context, which plays the audio back', async () => {
    const a = await open();
    await a.page.screenshot({ path: path.join(shots, 'sign-in.png') });
    await signIn(a.page, email, 'Create account');
    await a.page.getByRole('button', { name: 'New session' }).click();
    await expect.poll(() => a.page.locator('.sessions li').count()).toBe(1);

    const b = await open();
    await signIn(b.page, email, 'Sign in');
    await b.page.locator('.sessions li').first().click();
    await expect.poll(() => b.page.locator('.sessions li.active').count()).toBe(1);

    await a.page.getByLabel('Message').fill('hello from the browser');
    await a.page.getByLabel('Message').press('Enter');
    for (const page of [a.page, b.page]) {
      await expect
        .poll(() => page.locator('.message').allTextContents(), { timeout: 10_000 })
        .toEqual([expect.stringContaining('hello from the browser')]);
    }

    // Push to talk: about two seconds of the fake microphone, sent live as it is captured.
    await a.page.getByTestId('talk').click();
    await expect.poll(() => a.page.getByTestId('talk').textContent()).toContain('Stop');
    await a.page.waitForTimeout(2_000);
    await a.page.getByTestId('talk').click();
    for (const page of [a.page, b.page]) {
      await expect
        .poll(() => page.locator('.message[data-seq="2"] .meta').textContent(), { timeout: 15_000 })
        .toMatch(/#2 user · audio \(\d/);
    }
    await a.page.screenshot({ path: path.join(shots, 'conversation.png') });

    // The second context plays it back: live audio/l16 it heard, wrapped as WAV (a blob: URL the CSP allows).
    await b.page.locator('.message[data-seq="2"] button', { hasText: 'Play' }).click();
    const player = b.page.getByTestId('player');
    await expect
      .poll(() => player.evaluate((el) => (el as unknown as { readyState: number }).readyState), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(1);
    expect(await player.evaluate((el) => (el as unknown as { error: unknown }).error)).toBeNull();
    await a.context.close();
    await b.context.close();
  }, 90_000);

  it('uploads a document, shows its ingestion progress until ready, and retrieves from it', async () => {
    const { context, page } = await open();
    await signIn(page, email, 'Sign in');
    await page.getByRole('button', { name: 'Documents' }).click();
    const text =
      'Berlin weather report. OpenAI trains GPT-4 on Microsoft Azure. Berlin has rain today and sun tomorrow.';
    await page
      .getByLabel('Document')
      .setInputFiles({ name: 'berlin.txt', mimeType: 'text/plain', buffer: Buffer.from(text) });
    await page.getByRole('button', { name: 'Upload' }).click();
    await expect.poll(() => page.getByTestId('status').first().textContent(), { timeout: 60_000 }).toBe('ready');
    expect(
      await page
        .locator('progress')
        .first()
        .evaluate((el) => (el as unknown as { value: number }).value),
    ).toBe(100);
    await page.screenshot({ path: path.join(shots, 'documents.png') });

    await page.getByRole('button', { name: 'Retrieval' }).click();
    await page.getByLabel('Query').fill('What is the weather in Berlin?');
    await page.getByLabel('Query').press('Enter');
    await expect.poll(() => page.locator('.chunk').first().textContent(), { timeout: 15_000 }).toContain('Berlin');
    expect(await page.locator('.timings').textContent()).toMatch(/totalMs \d/);
    await expect.poll(() => page.locator('.entity').count()).toBeGreaterThan(0);
    await page.screenshot({ path: path.join(shots, 'retrieval.png') });
    await context.close();
  }, 90_000);

  it('gives admins the audit log, rate-limit settings, and users with roles; others do not see it', async () => {
    const adminEmail = `admin-${Date.now()}@example.test`;
    const registered = await fetch(`${url}/v1/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: adminEmail, username: 'Admin', password }),
    });
    const { user } = (await registered.json()) as { user: { id: string } };
    await cluster.nodes[0]!.stores.db.users.setRoles(user.id, ['admin'], null);

    const { context, page } = await open();
    await signIn(page, adminEmail, 'Sign in');
    await page.getByRole('button', { name: 'Admin' }).click();
    await expect.poll(() => page.getByTestId('audit').locator('tr').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    // The live cluster view: this node, with the admin's own socket counted.
    const nodeId = cluster.nodes[0]!.config.nodeId;
    await expect.poll(() => page.getByTestId('cluster-nodes').textContent(), { timeout: 10_000 }).toContain(nodeId);
    await expect
      .poll(() => page.getByTestId('cluster-note').textContent())
      .toMatch(/^1 node\(s\), \d+ live session\(s\)/);
    await expect.poll(() => page.locator('td', { hasText: email }).count()).toBeGreaterThan(0);
    await page.getByLabel('Rate limits').fill(JSON.stringify({ 'message:send': { limit: 50, windowMs: 10_000 } }));
    await page.getByRole('button', { name: 'Save limits' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toBe('rate limits saved');
    await eventually(async () => expect(await page.getByTestId('audit').textContent()).toContain('config.update'));
    await page.screenshot({ path: path.join(shots, 'admin.png') });
    await context.close();

    const user2 = await open();
    await signIn(user2.page, email, 'Sign in');
    expect(await user2.page.getByRole('button', { name: 'Admin' }).count()).toBe(0);
    await user2.context.close();
    expect(violations).toEqual([]);
  }, 60_000);
});
