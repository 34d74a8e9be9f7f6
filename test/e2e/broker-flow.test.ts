import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WhatsApp } from '../../src/whatsapp/index.js';
import { consent } from '../integration/auth-support.js';
import { type CliProcess, spawnCli } from '../support/cli-process.js';
import { expectNoSecrets } from '../support/secret-scan.js';

/** A browser-ish client: keeps one cookie, never follows redirects by itself. */
function session(base: string) {
  let cookie = '';
  return {
    async fetch(path: string, init: RequestInit = {}): Promise<Response> {
      const res = await fetch(path.startsWith('http') ? path : `${base}${path}`, {
        ...init,
        redirect: 'manual',
        headers: { ...(cookie ? { cookie } : {}), ...(init.headers ?? {}) },
      });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0] as string;
      return res;
    },
  };
}

describe('broker end to end: a real `wacloud up` process on its sandbox', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-broker-'));
  let broker: CliProcess;
  let base: string;
  let emulatorUrl: string;
  let adminKey: string;
  const received: Array<{ headers: Record<string, string>; body: string }> = [];
  let subscriber: Server;
  let subscriberUrl: string;
  const secretsSeen: string[] = [];

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    subscriberUrl = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/hooks`;
    broker = spawnCli(['up', '--port', '0'], {
      cwd: dataDir,
      env: { WACLOUD_DATA_DIR: join(dataDir, '.wacloud') },
    });
    await broker.waitFor(/Admin key[^\n]*\n\s+(wck_\S+)/, 60_000);
    const out = broker.output();
    base = /listening on (http:\/\/\S+)/.exec(out)?.[1] as string;
    emulatorUrl = /embedded emulator at (http:\/\/\S+)/.exec(out)?.[1] as string;
    adminKey = /Admin key[^\n]*\n\s+(wck_\S+)/.exec(out)?.[1] as string;
    secretsSeen.push(adminKey);
  }, 90_000);

  afterAll(async () => {
    await broker?.stop();
    await new Promise((r) => subscriber.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  const api = (path: string, key: string, init: RequestInit = {}) =>
    fetch(`${base}/api/v1${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });

  it('connects a tenant through the consent page, proxies a send with a tenant key, and delivers its webhooks', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);

    const tenant = (await (
      await api('/tenants', adminKey, { method: 'POST', body: JSON.stringify({ name: 'Acme' }) })
    ).json()) as { id: string };
    expect(tenant.id).toBeTruthy();

    // Dashboard login, then "Connect WhatsApp" through the emulator's consent page.
    const browser = session(base);
    const login = await browser.fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: adminKey }).toString(),
    });
    expect(login.status).toBe(303);
    const start = await browser.fetch(`/connect/start?tenant=${tenant.id}`);
    expect(start.status).toBe(303);
    const dialog = start.headers.get('location') as string;
    expect(dialog.startsWith(emulatorUrl)).toBe(true);
    const callback = await consent((u, i) => fetch(u, i), dialog);
    expect(callback.startsWith(`${base}/connect/callback?`)).toBe(true);
    const done = await browser.fetch(callback);
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe(`/tenants/${tenant.id}?flash=connected`);
    const page = await (await browser.fetch(`/tenants/${tenant.id}`)).text();
    expect(page).toContain('data-status="active"');

    const creds = (await (await api(`/tenants/${tenant.id}/credentials`, adminKey)).json()) as {
      data: Array<{ kind: string; status: string }>;
    };
    expect(creds.data).toHaveLength(1);
    expect(creds.data[0]).toMatchObject({ kind: 'user-long', status: 'active' });
    const numbers = (await (await api(`/tenants/${tenant.id}/phone-numbers`, adminKey)).json()) as {
      data: Array<{ id: string; wabaId: string }>;
    };
    expect(numbers.data.length).toBeGreaterThan(0);
    const phone = numbers.data[0] as { id: string; wabaId: string };

    // A tenant key and an outbound subscription.
    const made = (await (
      await api('/api-keys', adminKey, {
        method: 'POST',
        body: JSON.stringify({ tenantId: tenant.id, label: 'svc' }),
      })
    ).json()) as { key: string };
    secretsSeen.push(made.key);
    const sub = (await (
      await api(`/tenants/${tenant.id}/subscriptions`, made.key, {
        method: 'POST',
        body: JSON.stringify({ url: subscriberUrl, events: ['status'] }),
      })
    ).json()) as { secret: string };
    secretsSeen.push(sub.secret);

    // Our SDK through the Graph proxy: the tenant key is its "access token".
    const wa = new WhatsApp({
      accessToken: made.key,
      phoneNumberId: phone.id,
      graphUrl: `${base}/graph`,
      configSource: { env: {}, envFile: false },
    });
    const sent = await wa.messages.text({ to: '16505551234', body: 'hello through the broker' });
    await wa.close();
    const wamid = sent.messages?.[0]?.id as string;
    expect(wamid).toMatch(/^wamid\./);

    // The emulator sends sent/delivered/read statuses to the broker; the broker delivers them, signed.
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && received.filter((r) => r.body.includes(wamid)).length < 3) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const mine = received.filter((r) => r.body.includes(wamid));
    expect(mine.map((r) => (JSON.parse(r.body) as { data: { status: string } }).data.status).sort()).toEqual([
      'delivered',
      'read',
      'sent',
    ]);
    const verifier = new Webhook(sub.secret);
    for (const r of mine) expect(() => verifier.verify(r.body, r.headers)).not.toThrow();
  });

  it('keeps tenants apart: another tenant key gets 403 from the proxy and 404 from the API', async () => {
    const [tenantA] = ((await (await api('/tenants', adminKey)).json()) as { data: Array<{ id: string }> })
      .data;
    const tenantB = (await (
      await api('/tenants', adminKey, { method: 'POST', body: JSON.stringify({ name: 'Other' }) })
    ).json()) as { id: string };
    const keyB = (
      (await (
        await api('/api-keys', adminKey, { method: 'POST', body: JSON.stringify({ tenantId: tenantB.id }) })
      ).json()) as { key: string }
    ).key;
    secretsSeen.push(keyB);
    const numbersA = (
      (await (await api(`/tenants/${tenantA?.id}/phone-numbers`, adminKey)).json()) as {
        data: Array<{ id: string }>;
      }
    ).data;
    const proxied = await fetch(`${base}/graph/v26.0/${numbersA[0]?.id}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${keyB}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to: '16505551234',
        type: 'text',
        text: { body: 'x' },
      }),
    });
    expect(proxied.status).toBe(403);
    for (const path of [
      `/tenants/${tenantA?.id}`,
      `/tenants/${tenantA?.id}/credentials`,
      `/tenants/${tenantA?.id}/phone-numbers`,
    ]) {
      const res = await api(path, keyB);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain(tenantA?.id ?? 'x');
    }
    expect((await api('/tenants', 'wck_nothing_here')).status).toBe(401);
    expect((await api('/api-keys', keyB, { method: 'POST', body: '{}' })).status).toBe(403);
    expect(
      (
        await fetch(`${base}/graph/v26.0/debug_token?input_token=x`, {
          headers: { authorization: `Bearer ${keyB}` },
        })
      ).status,
    ).toBe(403);
  });

  it('never shows a token, key or secret in its output, metrics or API responses', async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('wacloud_credentials{state="active"}');
    const everything = [
      broker.output().replace(adminKey, ''), // the banner prints the admin key once, on purpose
      metrics,
      await (await api('/audit', adminKey)).text(),
      await (await api('/webhooks', adminKey)).text(),
    ].join('\n');
    expectNoSecrets(everything, secretsSeen, 'broker output');
    // No Meta token shape anywhere either.
    expect(everything).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
  });
});
