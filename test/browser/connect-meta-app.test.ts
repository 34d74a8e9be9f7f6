import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, hasChromium, launchChromium, startReverseProxy } from '../support/browser.js';
import { type CliProcess, spawnCli } from '../support/cli-process.js';
import { announceSkip } from '../support/require-all.js';
import { expectNoSecrets } from '../support/secret-scan.js';

if (!hasChromium)
  announceSkip(
    'browser tests',
    'the Meta-app connect test',
    `no Chromium at ${CHROMIUM} (apt-get install chromium; .ci/run does)`,
  );

/**
 * The broker configured as a real Meta app would be (WA_APP_ID / WA_APP_SECRET, WA_GRAPH_URL / WA_DIALOG_URL), with
 * a separately started emulator process as "Meta", published behind a reverse proxy at another origin than the one
 * it listens on (WACLOUD_PUBLIC_URL = the proxy). Nothing of the sandbox helps here: the redirect URI must be the
 * public one, the dialog is on another site, and the session has to survive the cross-site return.
 */
describe.skipIf(!hasChromium)('a broker configured as a Meta app, behind a reverse proxy (chromium)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-meta-app-'));
  const secrets: string[] = [];
  let emulator: CliProcess;
  let broker: CliProcess;
  let proxy: Server;
  let browser: Browser;
  let page: Page;
  let publicUrl: string;
  let listenUrl: string;
  let adminKey: string;
  let seed: { url: string; appId: string; appSecret: string };

  beforeAll(async () => {
    emulator = spawnCli(['emulator', '--port', '0', '--json', '--state', join(dataDir, 'meta.json')], {
      cwd: dataDir,
    });
    await emulator.waitFor(/\n\}\n/, 60_000);
    seed = JSON.parse(emulator.output().slice(0, emulator.output().indexOf('\n}\n') + 2));
    secrets.push(seed.appSecret);

    // The proxy needs the broker's port and the broker its public URL: the broker listens on a port of its own
    // choosing behind a proxy started first, pointed at it once known.
    let target = '';
    const started = await startReverseProxy(() => target);
    proxy = started.server;
    publicUrl = `http://localhost:${started.port}`;
    const verifyToken = randomBytes(24).toString('hex');
    secrets.push(verifyToken);
    broker = spawnCli(['up', '--port', '0'], {
      cwd: dataDir,
      env: {
        WACLOUD_DATA_DIR: join(dataDir, '.wacloud'),
        WA_APP_ID: seed.appId,
        WA_APP_SECRET: seed.appSecret,
        WA_GRAPH_URL: seed.url,
        WA_DIALOG_URL: seed.url,
        WEBHOOK_VERIFICATION_TOKEN: verifyToken,
        WACLOUD_PUBLIC_URL: publicUrl,
        WACLOUD_TRUSTED_PROXIES: '127.0.0.1',
      },
    });
    const m = await broker.waitFor(/listening on (http:\/\/\S+)[\s\S]*Admin key[^\n]*\n\s+(wck_\S+)/, 60_000);
    [, listenUrl, adminKey] = m as unknown as [string, string, string];
    target = listenUrl;
    secrets.push(adminKey);
    // Meta's app settings: the public callback is the one registered (Strict Mode: exact match).
    const res = await fetch(`${seed.url}/_emulator/apps/${seed.appId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [`${publicUrl}/connect/callback`] }),
    });
    expect(res.status).toBe(200);
    browser = await launchChromium();
    page = await (await browser.newContext()).newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await broker?.stop();
    await emulator?.stop();
    proxy?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the public URL and the redirect URI to register; listens elsewhere', () => {
    expect(new URL(listenUrl).origin).not.toBe(publicUrl);
    const out = broker.output();
    expect(out).toContain(`public URL     ${publicUrl}`);
    expect(out).toContain(`dashboard      ${publicUrl}/`);
    expect(out).toContain(`redirect URIs  ${publicUrl}/connect/callback`);
    expect(out).not.toContain('sandbox');
  });

  it('logs in through the proxy, connects through the dialog on another site, and comes back connected', async () => {
    await page.goto(publicUrl);
    await expect.poll(() => page.url()).toBe(`${publicUrl}/login`);
    await page.getByLabel('Admin key').fill(adminKey);
    await page.getByRole('button', { name: 'Log in' }).click();
    // The overview says what to register with Meta: the public callback, not the listen address.
    expect(await page.locator('[data-redirect-uri]').textContent()).toBe(`${publicUrl}/connect/callback`);
    await page.getByLabel('Name').fill('Acme Live');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.waitForURL(/\/tenants\//);
    const tenantUrl = page.url().replace(/\?.*$/, '');
    expect(tenantUrl.startsWith(`${publicUrl}/tenants/`)).toBe(true);

    await page.getByRole('link', { name: /Connect WhatsApp/ }).click();
    await page.waitForURL((u) => u.toString().startsWith(seed.url));
    const dialog = new URL(page.url());
    expect(dialog.searchParams.get('redirect_uri')).toBe(`${publicUrl}/connect/callback`);
    expect(dialog.hostname).not.toBe(new URL(publicUrl).hostname);
    await page.getByRole('button', { name: /Continue/ }).click();
    await page.waitForURL((u) => u.toString().startsWith(`${tenantUrl}?flash=`));
    await expect.poll(() => page.getByRole('status').textContent()).toContain('WhatsApp connected');
    expect(await page.locator('[data-credential] .badge').first().getAttribute('data-status')).toBe('active');

    // The same callback again (a replay) is refused and changes nothing.
    const callbacks: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/connect/callback')) callbacks.push(r.url());
    });
    await page
      .getByRole('link', { name: /Reconnect|Connect WhatsApp/ })
      .first()
      .click();
    await page.getByRole('button', { name: /Continue/ }).click();
    await page.waitForURL((u) => u.toString().startsWith(`${tenantUrl}?flash=`));
    expect(callbacks).toHaveLength(1);
    const replay = await page.goto(callbacks[0] as string);
    expect(replay?.status()).toBe(400);
    expect(await page.content()).toMatch(/already handled/);
    await page.goto(tenantUrl);
    expect(await page.locator('[data-credential]').count()).toBe(1);

    // A cookie set for the public origin, and the page's own headers.
    const cookies = await page.context().cookies(publicUrl);
    expect(cookies.find((c) => c.name === 'wacloud_session')?.sameSite).toBe('Lax');
    const res = await page.request.get(tenantUrl);
    expect(res.headers()['x-content-type-options']).toBe('nosniff');
    expect(res.headers()['referrer-policy']).toBe('no-referrer');
    expect(res.headers()['content-security-policy']).toContain("base-uri 'none'");
    expectNoSecrets(await page.content(), secrets);
  });

  it('logout ends the session on the server: the same cookie no longer opens the dashboard', async () => {
    const cookie = (await page.context().cookies(publicUrl)).find((c) => c.name === 'wacloud_session');
    expect(cookie).toBeDefined();
    await page.goto(publicUrl);
    await page.getByRole('button', { name: /Log out/ }).click();
    await page.waitForURL(`${publicUrl}/login`);
    // A copy of the cookie taken before the logout (stolen, or another tab) is refused too.
    const replayed = await fetch(`${publicUrl}/`, {
      headers: { cookie: `wacloud_session=${cookie?.value}` },
      redirect: 'manual',
    });
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get('location')).toBe('/login');
  });
});
