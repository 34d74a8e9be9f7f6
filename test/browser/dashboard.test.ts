import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliProcess, repoRoot, spawnCli } from '../support/cli-process.js';
import { announceSkip } from '../support/require-all.js';

const CHROMIUM = process.env.WACLOUD_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  announceSkip(
    'browser tests',
    'the dashboard tests',
    `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`,
  );

const ARTIFACTS = join(repoRoot, 'test-artifacts', 'browser');
const DAY = 86_400_000;

describe.skipIf(!hasChromium)('dashboard in a real browser (Debian chromium + playwright-core)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-browser-'));
  let broker: CliProcess;
  let browser: Browser;
  let page: Page;
  let base: string;
  let emulatorUrl: string;
  let adminKey: string;

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    broker = spawnCli(['up', '--port', '0'], {
      cwd: dataDir,
      env: { WACLOUD_DATA_DIR: join(dataDir, '.wacloud') },
    });
    const m = await broker.waitFor(
      /listening on (http:\/\/\S+)[\s\S]*embedded emulator at (http:\/\/\S+)[\s\S]*Admin key[^\n]*\n\s+(wck_\S+)/,
      60_000,
    );
    [, base, emulatorUrl, adminKey] = m as unknown as [string, string, string, string];
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function connectThroughConsent(): Promise<void> {
    await page
      .getByRole('link', { name: /Connect WhatsApp|Reconnect/ })
      .first()
      .click();
    await page.waitForURL((u) => u.toString().startsWith(emulatorUrl));
    await page.getByRole('button', { name: /Continue/ }).click();
    await page.waitForURL((u) => u.toString().startsWith(`${base}/tenants/`));
  }

  it('log in, connect, age 53 days, see expiring with a reconnect prompt, reconnect, send a test message', async () => {
    await page.goto(base);
    await expect.poll(() => page.url()).toBe(`${base}/login`);
    await page.getByLabel('Admin key').fill(adminKey);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByLabel('Name').fill('Acme Sandbox');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/tenants\//);
    await shot('1-tenant-created');

    await connectThroughConsent();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('WhatsApp connected');
    expect(await page.locator('[data-credential] .badge').first().getAttribute('data-status')).toBe('active');
    expect(await page.locator('svg[aria-label="Credential expiry timeline"]').count()).toBe(1);
    await shot('2-connected-healthy');

    // 53 days on the emulator's clock: the long-lived user token has 7 days left, which Meta will not extend.
    const advanced = await fetch(`${emulatorUrl}/_emulator/clock/advance`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ms: 53 * DAY }),
    });
    expect(advanced.status).toBe(200);
    await expect
      .poll(
        async () => {
          await page.reload();
          return page.locator('[data-credential] .badge').first().getAttribute('data-status');
        },
        { timeout: 15_000, interval: 500 },
      )
      .toBe('expiring');
    await expect.poll(() => page.locator('.reconnect').first().textContent()).toMatch(/reconnect before/i);
    await shot('3-expiring-reconnect-prompt');

    await connectThroughConsent();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Reconnected');
    expect(await page.locator('[data-credential] .badge').first().getAttribute('data-status')).toBe('active');
    expect(await page.locator('[data-credential]').count()).toBe(1);
    await shot('4-reconnected');

    await page.getByLabel('To', { exact: true }).fill('16505551234');
    await page.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Test message sent');
    await shot('5-test-message-sent');

    const html = await page.content();
    expect(html).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
    expect(html).not.toContain(adminKey);
  });

  it('refuses a form without its CSRF token and a cross-session CSRF token', async () => {
    const tenantsPage = await page.goto(`${base}/`);
    expect(tenantsPage?.status()).toBe(200);
    const res = await page.request.post(`${base}/tenants`, { form: { name: 'forged' }, maxRedirects: 0 });
    expect(res.status()).toBe(403);
    const other = await page.request.post(`${base}/tenants`, {
      form: { name: 'forged', csrf: 'A'.repeat(43) },
      maxRedirects: 0,
    });
    expect(other.status()).toBe(403);
  });
});
