import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCAL_RECEIVERS } from '../support/broker.js';
import { CHROMIUM, hasChromium, launchChromium } from '../support/browser.js';
import { type CliProcess, repoRoot, spawnCli } from '../support/cli-process.js';
import { freePort } from '../support/ports.js';
import { announceSkip } from '../support/require-all.js';

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
  const pageProblems: string[] = [];

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // Published at http://localhost:<port> (WACLOUD_PUBLIC_URL) while it listens on 127.0.0.1: the sandbox then
    // serves its Facebook dialog on 127.0.0.1, another site, so the return from it is a cross-site navigation.
    const port = await freePort();
    broker = spawnCli(['up', '--port', String(port)], {
      cwd: dataDir,
      env: {
        WACLOUD_DATA_DIR: join(dataDir, '.wacloud'),
        WACLOUD_PUBLIC_URL: `http://localhost:${port}`,
        WACLOUD_OUTBOUND_ALLOW: LOCAL_RECEIVERS,
      },
    });
    const m = await broker.waitFor(
      /public URL\s+(http:\/\/\S+)[\s\S]*embedded emulator at (http:\/\/\S+)[\s\S]*its Facebook dialog at (http:\/\/\S+)[\s\S]*Admin key[^\n]*\n\s+(wck_\S+)/,
      60_000,
    );
    [, base, , emulatorUrl, adminKey] = m as unknown as [string, string, string, string, string];
    expect(base).toBe(`http://localhost:${port}`);
    expect(new URL(emulatorUrl).hostname).toBe('127.0.0.1');
    browser = await launchChromium();
    // 1280 wide: the README's screenshot (docs/dashboard.png) is taken here. The clipboard is granted for Copy.
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
    page = await context.newPage();
    // The script runs under the page's CSP: any refusal or script error shows up here and fails the tests.
    page.on('console', (m) => {
      // (Chromium's own favicon.ico request is not the page's: neither server has one.)
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico'))
        pageProblems.push(`${m.text()} ${m.location().url}`);
    });
    page.on('pageerror', (e) => pageProblems.push(e.message));
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
    // The return is a cross-site navigation: it lands on the tenant page only if the session came along.
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

    // The expiry countdown is live (the script re-renders it from data-relative-to, on the server's clock: the
    // emulator's, 53 days ahead of this machine's), and reads what the server rendered.
    const countdown = page.locator('[data-credential] [data-relative-to]').first();
    const first = (await countdown.textContent()) as string;
    expect(first).toMatch(/^in (6 d 23 h \d+ min \d+ s|7 d 0 h \d+ min \d+ s)$/);
    await expect.poll(() => countdown.textContent(), { timeout: 10_000 }).not.toBe(first);
    expect(await countdown.textContent()).toMatch(/^in (6 d 23 h|7 d 0 h) /);
    // The README's picture (docs/dashboard.png is copied from this file): the tenant page, no flash, top of the page.
    await page.goto(page.url().replace(/\?.*$/, ''));
    await page.waitForSelector('.reconnect');
    await page.screenshot({ path: join(ARTIFACTS, 'readme-dashboard.png') });

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

  it('Embedded Signup: the dialog on another site, the cross-site return with the code and the session info, connected', async () => {
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('link', { name: 'Acme Sandbox' }).click();
    const tenantUrl = page.url();
    await page.getByRole('link', { name: 'Connect with Embedded Signup' }).click();
    await page.waitForURL((u) => u.toString().startsWith(emulatorUrl));
    expect(new URL(page.url()).hostname).not.toBe(new URL(base).hostname);
    expect(new URL(page.url()).searchParams.get('redirect_uri')).toBe(
      `${base}/connect/embedded-signup/callback`,
    );
    await page.getByLabel(/WhatsApp Business Account to share/).selectOption({ index: 0 });
    await page.getByRole('button', { name: /Continue/ }).click();
    await page.waitForURL((u) => u.toString().startsWith(`${tenantUrl}?flash=`));
    await expect.poll(() => page.getByRole('status').textContent()).toContain('WhatsApp connected');
    const kinds = await page.locator('[data-credential]').allTextContents();
    expect(kinds.join(' ')).toMatch(/business.integration/i);
    await shot('5b-embedded-signup-connected');
    expect(pageProblems).toEqual([]);
  });

  it('Copy puts a shown-once secret on the clipboard; destructive forms ask first, and cancelling posts nothing', async () => {
    await page.getByRole('link', { name: 'Tenants' }).click();
    await page.getByRole('link', { name: 'Acme Sandbox' }).click();
    await page.getByRole('link', { name: 'Outbound webhooks' }).click();
    await page.getByLabel('URL').fill('http://127.0.0.1:9/hooks/whatsapp');
    await page.getByLabel('Events').fill('template_status');
    await page.getByRole('button', { name: 'Add' }).click();
    const secret = (await page.locator('[data-subscription-secret]').textContent()) as string;
    expect(secret).toMatch(/^whsec_/);
    await page.getByRole('button', { name: 'Copy signing secret' }).click();
    await expect.poll(() => page.locator('.copied').textContent()).toContain('Copied to the clipboard');
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
    // The artifact shows the confirmation, not the secret (painted over).
    await page.screenshot({
      path: join(ARTIFACTS, '6-secret-copied.png'),
      fullPage: true,
      mask: [page.locator('[data-subscription-secret]')],
    });

    const posts: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST') posts.push(new URL(r.url()).pathname);
    });
    const deactivate = page.getByRole('button', { name: 'Deactivate' });
    let asked = '';
    page.once('dialog', (d) => {
      asked = `${d.type()}: ${d.message()}`;
      void d.dismiss();
    });
    await deactivate.click();
    await expect
      .poll(() => asked)
      .toMatch(/^confirm: Deactivate the subscription for http:\/\/127\.0\.0\.1:9\/hooks\/whatsapp\?/);
    // Cancelled: nothing posted, still on the page with the secret, still active.
    // A round trip into the page after the click's handlers ran: a submission would have started by now.
    expect(await page.evaluate(() => document.readyState)).toBe('complete');
    expect(posts).toEqual([]);
    expect(await page.locator('[data-subscription-secret]').count()).toBe(1);
    expect(await page.locator('[data-subscription] td').nth(2).textContent()).toBe('active');

    page.once('dialog', (d) => void d.accept());
    await deactivate.click();
    await page.waitForURL(/flash=subscription-deactivated/);
    expect(posts).toEqual([expect.stringMatching(/^\/subscriptions\/[^/]+\/deactivate$/)]);
    expect(await page.locator('[data-subscription] td').nth(2).textContent()).toBe('inactive');
    expect(await page.content()).not.toContain(secret);
    expect(pageProblems).toEqual([]);
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
