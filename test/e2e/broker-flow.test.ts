import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFetchTransport } from '../../src/transport/index.js';
import { WhatsApp } from '../../src/whatsapp/index.js';
import { consent } from '../integration/auth-support.js';
import { brokerRunSecrets, LOCAL_RECEIVERS, parseMetrics, Transcript } from '../support/broker.js';
import { type CliProcess, spawnCli } from '../support/cli-process.js';
import { until } from '../support/poll.js';
import { expectNoSecrets, findSecrets } from '../support/secret-scan.js';

/** Every response the broker gives this test's clients, and every request it sends the test's subscriber. */
const transcript = new Transcript();
/** Every session cookie the dashboard issued: a bearer credential, shown only in its login response's Set-Cookie. */
const sessionCookies: string[] = [];

/** A browser-ish client: keeps one cookie, never follows redirects by itself; its responses are recorded. */
function session(base: string) {
  let cookie = '';
  return {
    async fetch(path: string, init: RequestInit = {}): Promise<Response> {
      const res = await transcript.fetch(path.startsWith('http') ? path : `${base}${path}`, {
        ...init,
        redirect: 'manual',
        headers: { ...(cookie ? { cookie } : {}), ...(init.headers ?? {}) },
      });
      const set = res.headers.get('set-cookie');
      if (set) cookie = set.split(';')[0] as string;
      const value = set ? cookie.slice(cookie.indexOf('=') + 1) : '';
      if (value) {
        transcript.shownOnce(value);
        sessionCookies.push(value);
      }
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
  /** The connected tenant of the first test, for the later ones. */
  let acme: { tenantId: string; key: string; phoneNumberId: string };

  beforeAll(async () => {
    subscriber = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => {
        body += c;
      });
      req.on('end', () => {
        received.push({ headers: req.headers as Record<string, string>, body });
        transcript.addReceived(`${req.method} ${req.url}`, req.headers, body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => subscriber.listen(0, '127.0.0.1', r));
    subscriberUrl = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/hooks`;
    broker = spawnCli(['up', '--port', '0'], {
      cwd: dataDir,
      env: { WACLOUD_DATA_DIR: join(dataDir, '.wacloud'), WACLOUD_OUTBOUND_ALLOW: LOCAL_RECEIVERS },
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
    transcript.fetch(`${base}/api/v1${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        ...(init.headers ?? {}),
      },
    });

  it('connects a tenant through the consent page, proxies a send with a tenant key, and delivers its webhooks', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect((await transcript.fetch(`${base}/healthz`)).status).toBe(200);
    expect((await transcript.fetch(`${base}/readyz`)).status).toBe(200);

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
    // The sandbox's dialog: the emulator, on another site than the broker (localhost vs 127.0.0.1).
    expect(new URL(dialog).port).toBe(new URL(emulatorUrl).port);
    expect(new URL(dialog).hostname).toBe('localhost');
    expect(new URL(base).hostname).toBe('127.0.0.1');
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
    transcript.shownOnce(made.key);
    secretsSeen.push(made.key);
    const sub = (await (
      await api(`/tenants/${tenant.id}/subscriptions`, made.key, {
        method: 'POST',
        body: JSON.stringify({ url: subscriberUrl, events: ['status'] }),
      })
    ).json()) as { secret: string };
    transcript.shownOnce(sub.secret);
    secretsSeen.push(sub.secret);

    // Our SDK through the Graph proxy: the tenant key is its "access token".
    const wa = new WhatsApp({
      accessToken: made.key,
      phoneNumberId: phone.id,
      graphUrl: `${base}/graph`,
      transport: createFetchTransport(transcript.fetch),
      configSource: { env: {}, envFile: false },
    });
    const sent = await wa.messages.text({ to: '16505551234', body: 'hello through the broker' });
    await wa.close();
    const wamid = sent.messages?.[0]?.id as string;
    expect(wamid).toMatch(/^wamid\./);
    acme = { tenantId: tenant.id, key: made.key, phoneNumberId: phone.id };

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

    // The metrics the issue lists, after one connect, one proxied send and its three statuses in and out.
    const metrics = async () => parseMetrics(await (await transcript.fetch(`${base}/metrics`)).text());
    const m = await until('three deliveries counted', async () => {
      const got = await metrics();
      return (got.value('wacloud_webhook_deliveries_total', { result: 'delivered' }) ?? 0) >= 3
        ? got
        : undefined;
    });
    expect(m.value('wacloud_credentials', { state: 'active' })).toBe(1);
    expect(m.value('wacloud_credentials', { state: 'invalid' })).toBe(0);
    // A long-lived user token: 60 days from the exchange, minus the seconds the test has run.
    // No tenant id in the series by default (WACLOUD_METRICS_TENANT_LABELS): the credential's kind names it here.
    const toExpiry = m.value('wacloud_credential_seconds_to_expiry', { kind: 'user-long' });
    expect((toExpiry ?? 0) / 86_400).toBeGreaterThan(59.9);
    expect((toExpiry ?? 0) / 86_400).toBeLessThanOrEqual(60);
    expect(m.value('wacloud_token_events_total', { event: 'added' })).toBe(1);
    // The one proxied send: in the 2xx latency histogram (every bucket up to +Inf), and in the added-latency one.
    expect(m.value('wacloud_proxy_request_duration_seconds_count', { status_class: '2xx' })).toBe(1);
    expect(
      m.value('wacloud_proxy_request_duration_seconds_bucket', { status_class: '2xx', le: '+Inf' }),
    ).toBe(1);
    expect(m.value('wacloud_proxy_request_duration_seconds_sum', { status_class: '2xx' })).toBeGreaterThan(0);
    expect(m.value('wacloud_proxy_added_latency_seconds_count')).toBe(1);
    // The emulator's sent/delivered/read webhooks in, and the three signed deliveries out.
    expect(m.value('wacloud_webhook_ingest_total', { result: 'accepted' })).toBeGreaterThanOrEqual(3);
    expect(m.value('wacloud_webhook_ingest_total', { result: 'bad_signature' }) ?? 0).toBe(0);
    expect(m.value('wacloud_webhook_deliveries_total', { result: 'delivered' })).toBe(3);
    expect(m.value('wacloud_webhook_deliveries_total', { result: 'dead' }) ?? 0).toBe(0);
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
    transcript.shownOnce(keyB);
    secretsSeen.push(keyB);
    const numbersA = (
      (await (await api(`/tenants/${tenantA?.id}/phone-numbers`, adminKey)).json()) as {
        data: Array<{ id: string }>;
      }
    ).data;
    const proxied = await transcript.fetch(`${base}/graph/v26.0/${numbersA[0]?.id}/messages`, {
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
        await transcript.fetch(`${base}/graph/v26.0/debug_token?input_token=x`, {
          headers: { authorization: `Bearer ${keyB}` },
        })
      ).status,
    ).toBe(403);
  });

  it('a 190 from Meta on a proxied send: the client gets it, the credential turns invalid everywhere, and the tenant is told', async () => {
    const { tenantId, key, phoneNumberId } = acme;
    const cred = (
      (await (await api(`/tenants/${tenantId}/credentials`, key)).json()) as { data: Array<{ id: string }> }
    ).data[0] as { id: string };
    const sub = (await (
      await api(`/tenants/${tenantId}/subscriptions`, key, {
        method: 'POST',
        body: JSON.stringify({ url: `${subscriberUrl}/token-events`, events: ['credential.invalid'] }),
      })
    ).json()) as { secret: string };
    transcript.shownOnce(sub.secret);
    secretsSeen.push(sub.secret);
    const metricsBefore = await (await transcript.fetch(`${base}/metrics`)).text();
    expect(metricsBefore).toContain('wacloud_credentials{state="invalid"} 0');

    // The user changes their Facebook password: Meta answers every older user token with 190/460.
    const seed = (await (await fetch(`${emulatorUrl}/_emulator/seed`)).json()) as { userId: string };
    const changed = await fetch(`${emulatorUrl}/_emulator/users/${seed.userId}/change-password`, {
      method: 'POST',
    });
    expect(changed.status).toBe(200);

    const res = await transcript.fetch(`${base}/graph/v26.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to: '16505551234',
        type: 'text',
        text: { body: 'after the password change' },
      }),
    });
    const body = (await res.json()) as { error: { code: number; error_subcode?: number; type?: string } };
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(body.error).toMatchObject({ code: 190, error_subcode: 460, type: 'OAuthException' });

    // The API says invalid (metadata only) ...
    const invalid = await until('the credential turning invalid', async () => {
      const got = (await (await api(`/credentials/${cred.id}`, key)).json()) as { status: string };
      return got.status === 'invalid' ? got : undefined;
    });
    expect(invalid).toMatchObject({ id: cred.id, status: 'invalid' });
    // ... the dashboard shows it invalid with a reconnect prompt ...
    const browser = session(base);
    await browser.fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: adminKey }).toString(),
    });
    const page = await (await browser.fetch(`/tenants/${tenantId}`)).text();
    expect(page).toContain('data-status="invalid"');
    expect(page).toMatch(/class="reconnect">[^<]*reconnect now\.\s*<a href="\/connect\/start\?tenant=/);
    // ... /metrics counts it ...
    const metrics = await (await transcript.fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('wacloud_credentials{state="invalid"} 1');
    expect(metrics).toMatch(/^wacloud_token_events_total\{event="invalid"\} 1$/m);
    // ... the audit log has it ...
    const audit = (
      (await (await api(`/audit?tenant=${tenantId}`, adminKey)).json()) as {
        data: Array<{ event: string; credentialId: string | null }>;
      }
    ).data;
    expect(audit.filter((a) => a.event === 'credential.invalid' && a.credentialId === cred.id)).toHaveLength(
      1,
    );
    // ... and the tenant's subscriber gets credential.invalid, signed the Standard Webhooks way.
    const delivered = await until('the credential.invalid delivery', async () =>
      received.find((r) => r.body.includes('"credential.invalid"')),
    );
    expect(() => new Webhook(sub.secret).verify(delivered.body, delivered.headers)).not.toThrow();
    expect(JSON.parse(delivered.body)).toMatchObject({
      type: 'credential.invalid',
      data: { credentialId: cred.id, tenantId },
    });
  });

  it('never shows a token, key or secret in any response, header, page, delivery or log of the whole run', async () => {
    // Every dashboard page, found by following the links from the overview (a page added later is crawled too).
    const browser = session(base);
    await browser.fetch('/login');
    await browser.fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ key: adminKey }).toString(),
    });
    const seen = new Set<string>();
    const queue = ['/'];
    while (queue.length > 0 && seen.size < 200) {
      const path = queue.shift() as string;
      if (seen.has(path)) continue;
      seen.add(path);
      const res = await browser.fetch(path);
      if (!(res.headers.get('content-type') ?? '').includes('text/html')) continue;
      for (const m of (await res.text()).matchAll(/href="(\/[^"]*)"/g)) {
        const link = (m[1] as string).replaceAll('&amp;', '&');
        if (!link.startsWith('/connect/') && !seen.has(link)) queue.push(link);
      }
    }
    expect([...seen]).toEqual(expect.arrayContaining(['/', '/webhooks', '/audit']));
    expect([...seen].some((p) => p.startsWith('/tenants/'))).toBe(true);
    // The operations endpoints and every list the API has.
    for (const path of ['/healthz', '/readyz', '/metrics', '/api/v1/openapi.json'])
      await transcript.fetch(`${base}${path}`);
    const tenants = ((await (await api('/tenants', adminKey)).json()) as { data: Array<{ id: string }> })
      .data;
    for (const path of ['/api-keys', '/audit', '/webhooks'])
      expect((await api(path, adminKey)).status, path).toBe(200);
    for (const t of tenants) {
      for (const what of ['', '/credentials', '/phone-numbers', '/subscriptions', '/deliveries'])
        expect((await api(`/tenants/${t.id}${what}`, adminKey)).status, what).toBe(200);
    }

    const run = await brokerRunSecrets(dataDir, emulatorUrl);
    // The seeded token and the ones the consent page's code was exchanged for (short-lived, then long-lived).
    expect(run.metaTokens.length).toBeGreaterThanOrEqual(3);
    expect(sessionCookies.length).toBeGreaterThanOrEqual(3);
    const secrets = [...secretsSeen, ...sessionCookies, ...run.all];
    const output = broker.output();
    // The banner prints the admin key once, on purpose, and nothing else does.
    expect(output.split(adminKey)).toHaveLength(2);
    const logs = output.replace(adminKey, '[admin key banner]');
    const recorded = transcript.text();
    // The transcript holds what the run saw: pages, headers, the proxied send, the deliveries, the 190.
    expect(recorded).toContain('set-cookie: wacloud_session=');
    expect(recorded).toContain('data-status="invalid"');
    expect(recorded).toContain('"code":190');
    expect(recorded).toContain('webhook-signature:');
    expect(recorded).toMatch(/"id":"wamid\./);

    // Positive controls: the scan finds the admin key in the real output, and a sliver of a real Meta token, the
    // master key or the session key planted in a synthetic header.
    expect(findSecrets(output, [adminKey])).toEqual(['secret #0 in full']);
    for (const planted of [run.metaTokens[1] as string, run.masterKey, run.sessionKey]) {
      const sliver = planted.slice(5, 19);
      expect(findSecrets(`${recorded}\nx-debug: ${sliver}\n`, secrets), 'planted sliver').not.toEqual([]);
    }

    expectNoSecrets(`${recorded}\n${logs}`, secrets, 'the run');
    // No Meta token shape anywhere either.
    expect(`${recorded}\n${logs}`).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
  });
});
