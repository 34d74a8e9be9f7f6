import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, connectTenant, type RunningBroker, startBrokerProcess } from '../support/broker.js';
import { until } from '../support/poll.js';

interface Hit {
  id: string;
  headers: Record<string, string>;
  body: string;
  answered: number;
}

interface Delivery {
  id: string;
  subscriptionId: string;
  status: string;
  attempts: number;
  lastError: string | null;
}

/** A browser without JavaScript: one cookie, no automatic redirects, forms posted with the page's CSRF token. */
function browser(base: string) {
  let cookie = '';
  const go = async (path: string, form?: Record<string, string>) => {
    const res = await fetch(`${base}${path}`, {
      method: form ? 'POST' : 'GET',
      redirect: 'manual',
      headers: {
        ...(cookie ? { cookie } : {}),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: form ? new URLSearchParams(form).toString() : undefined,
    });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0] as string;
    return {
      status: res.status,
      location: res.headers.get('location'),
      headers: res.headers,
      text: await res.text(),
    };
  };
  return { go };
}

const csrfOf = (page: string): string => /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;

/**
 * The outbound half of the README's promise on a real `wacloud up`: a subscription added through the dashboard
 * form, a subscriber answering 500 until the deliveries are dead letters (retries driven by the sandbox's virtual
 * clock, with the broker's default backoff and 8 attempts), Replay pressed on the dashboard, delivered once.
 */
describe('broker outbound webhooks end to end: dashboard subscription, dead letters, dashboard replay', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-outbound-'));
  let b: RunningBroker;
  let subscriber: Server;
  let subscriberUrl: string;
  const hits: Hit[] = [];
  let answer = 500;

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        hits.push({
          id: String(req.headers['webhook-id']),
          headers: req.headers as Record<string, string>,
          body,
          answered: answer,
        });
        res.writeHead(answer).end();
      });
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    subscriberUrl = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/hooks`;
    b = await startBrokerProcess(dataDir);
  }, 90_000);
  afterAll(async () => {
    await b?.proc.stop();
    await new Promise((r) => subscriber?.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('subscribe on the dashboard, 500 until dead, Replay on the dashboard, delivered once', async () => {
    const adminKey = b.adminKey as string;
    const call = api(b.base, adminKey);
    const { tenantId, phoneNumberId } = await connectTenant(b, adminKey, 'Outbound');
    const emulator = (path: string, body: unknown) =>
      fetch(`${b.emulatorUrl}/_emulator/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then((r) => r.json());

    const web = browser(b.base);
    expect((await web.go('/login', { key: adminKey })).status).toBe(303);
    const tenantPage = await web.go(`/tenants/${tenantId}`);
    expect(tenantPage.text).toContain(`href="/tenants/${tenantId}/deliveries"`);
    const empty = await web.go(`/tenants/${tenantId}/deliveries`);
    expect(empty.text).toContain('No subscriptions');

    // Bad input: a clear error, nothing added.
    const bad = await web.go(`/tenants/${tenantId}/subscriptions`, {
      csrf: csrfOf(empty.text),
      url: 'ftp://nope',
      events: 'status',
    });
    expect(bad.location).toBe(`/tenants/${tenantId}/deliveries?flash=subscription-invalid`);
    // Without the CSRF token: refused.
    expect((await web.go(`/tenants/${tenantId}/subscriptions`, { url: subscriberUrl })).status).toBe(403);
    expect((await call<{ data: unknown[] }>(`/tenants/${tenantId}/subscriptions`)).data).toEqual([]);

    const added = await web.go(`/tenants/${tenantId}/subscriptions`, {
      csrf: csrfOf(empty.text),
      url: subscriberUrl,
      events: 'status',
    });
    expect(added.status).toBe(200);
    const secret = /data-subscription-secret>([^<]+)</.exec(added.text)?.[1] as string;
    expect(secret).toMatch(/^whsec_/);
    const subs = (
      await call<{ data: Array<{ id: string; events: string[] }> }>(`/tenants/${tenantId}/subscriptions`)
    ).data;
    expect(subs.map((s) => s.events)).toEqual([['status']]);

    // A message: the sandbox reports sent, delivered and read; the subscriber refuses them all.
    await emulator('webhooks/config', { status_delays_ms: { sent: 0, delivered: 20, read: 40 } });
    await call(`/tenants/${tenantId}/messages`, {
      from: phoneNumberId,
      messaging_product: 'whatsapp',
      to: '16505551234',
      type: 'text',
      text: { body: 'outbound' },
    });
    const list = async () => (await call<{ data: Delivery[] }>(`/tenants/${tenantId}/deliveries`)).data;
    // Retries wait 5 s, 10 s, 20 s, … on the sandbox clock: move it on until all three are dead letters.
    const dead = await until('three dead letters', async () => {
      const rows = await list();
      if (rows.length === 3 && rows.every((d) => d.status === 'dead')) return rows;
      await emulator('clock/advance', { seconds: 600 });
      return undefined;
    });
    for (const d of dead) expect(d).toMatchObject({ attempts: 8, lastError: 'subscriber answered HTTP 500' });
    expect(hits).toHaveLength(24);
    for (const d of dead) expect(hits.filter((h) => h.id === d.id)).toHaveLength(8);

    // The dashboard's dead letters: status, attempts, last error, and a Replay form each.
    const letters = await web.go(`/tenants/${tenantId}/deliveries?status=dead`);
    expect(letters.text).toContain('Dead letters (3)');
    expect(letters.text.match(/data-delivery-status="dead"/g)).toHaveLength(3);
    expect(letters.text).toContain('subscriber answered HTTP 500');
    expect(letters.text).not.toContain(secret); // shown once, on the answer to the form only
    const [first] = dead as [Delivery];
    expect(letters.text).toContain(`action="/deliveries/${first.id}/replay"`);

    answer = 204;
    const replay = await web.go(`/deliveries/${first.id}/replay`, { csrf: csrfOf(letters.text) });
    expect(replay.status).toBe(303);
    expect(replay.location).toBe(`/tenants/${tenantId}/deliveries?flash=delivery-replayed`);
    await until('the replayed delivery delivered', async () =>
      (await list()).find((d) => d.id === first.id && d.status === 'delivered'),
    );
    const ok = hits.filter((h) => h.answered === 204);
    expect(ok.map((h) => h.id)).toEqual([first.id]); // once, with its original webhook-id
    expect(() => new Webhook(secret).verify(ok[0]?.body as string, ok[0]?.headers as never)).not.toThrow();
    expect((await list()).filter((d) => d.status === 'dead')).toHaveLength(2);
    const after = await web.go(`/tenants/${tenantId}/deliveries?flash=delivery-replayed`);
    expect(after.text).toContain('Dead letters (2)');
    expect(after.text).toContain('Delivery queued again');

    // Deactivate: the page says so and nothing new is queued for it.
    const subId = subs[0]?.id as string;
    const off = await web.go(`/subscriptions/${subId}/deactivate`, { csrf: csrfOf(after.text) });
    expect(off.location).toBe(`/tenants/${tenantId}/deliveries?flash=subscription-deactivated`);
    expect((await web.go(`/tenants/${tenantId}/deliveries`)).text).toMatch(/inactive/);
    expect(
      (await call<{ data: Array<{ active: boolean }> }>(`/tenants/${tenantId}/subscriptions`)).data[0]
        ?.active,
    ).toBe(false);

    // The API's PATCH is the same switch: reactivated there, the page shows it active (and Deactivate asks first).
    const on = await call<{ id: string; active: boolean; secret?: string }>(
      `/subscriptions/${subId}`,
      {
        active: true,
      },
      'PATCH',
    );
    expect(on).toMatchObject({ id: subId, active: true });
    expect(on.secret).toBeUndefined();
    const back = await web.go(`/tenants/${tenantId}/deliveries`);
    expect(back.text).toContain(`action="/subscriptions/${subId}/deactivate" data-confirm="Deactivate`);
    shared = { web, tenantId, secret };
  });

  let shared: { web: ReturnType<typeof browser>; tenantId: string; secret: string } | undefined;

  it('without JavaScript every page renders and posts; the one script is served as JS, from self, under the CSP', async () => {
    const { web, tenantId } = shared as NonNullable<typeof shared>;
    const pages = ['/', `/tenants/${tenantId}`, `/tenants/${tenantId}/deliveries`, '/webhooks', '/audit'];
    for (const path of pages) {
      const res = await web.go(path);
      expect(res.status, path).toBe(200);
      // No inline code: no on* handler attributes, no javascript: URLs, and the only <script> is the served file.
      expect(res.text, path).not.toMatch(/\son[a-z]+\s*=/i);
      expect(res.text, path).not.toContain('onclick=');
      expect(res.text, path).not.toMatch(/javascript:/i);
      expect(res.text.match(/<script[^>]*>/g), path).toEqual(['<script src="/assets/dashboard.js" defer>']);
      expect(res.text, path).toMatch(/<script src="\/assets\/dashboard.js" defer><\/script>/);
      // Every form posts on its own: a method, an action and (behind the session) its CSRF token.
      const forms = res.text.match(/<form[^>]*>/g) ?? [];
      expect(forms.length, path).toBeGreaterThan(0);
      for (const f of forms) expect(f, path).toMatch(/method="post" action="\/[^"]*"/);
      expect(res.text.match(/name="csrf"/g)?.length, path).toBe(forms.length);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("script-src 'self'");
      expect(csp.match(/script-src/g), path).toHaveLength(1);
      expect(/script-src[^;]*unsafe-inline/.test(csp), path).toBe(false);
    }
    // Server-rendered relative times (the script only keeps them live): the credential's expiry in ~60 days.
    const tenant = await web.go(`/tenants/${tenantId}`);
    expect(tenant.text).toMatch(/data-relative-to="\d+">in (59|60) d \d+ h</);
    // The login page loads no script at all.
    const login = await fetch(`${b.base}/login`).then((r) => r.text());
    expect(login).not.toContain('<script');

    const js = await web.go('/assets/dashboard.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript\b/);
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    expect(js.text).toContain('data-confirm');
    expect(js.text).toContain('[data-copy]');
    // Behind the session like the pages.
    const anonymous = await fetch(`${b.base}/assets/dashboard.js`, { redirect: 'manual' });
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('/login');
  });
});
