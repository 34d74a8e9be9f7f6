import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { signPayload } from '../../src/webhooks/verify-signature.js';
import {
  api,
  connectTenant,
  connectThroughDashboard,
  control,
  type InProcessBroker,
  startInProcessBroker,
} from '../support/broker.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { whatsappDelivery } from '../support/webhook-payloads.js';

/**
 * Issue #14's smaller findings, over real HTTP against an in-process broker behind a trusted proxy address
 * (loopback): failed authentication counted and throttled per client and key id without locking the right key out;
 * /metrics on its own port behind a token, without tenant ids; `__proto__` keys; every form of `ids`; security
 * headers; last use of keys; a webhook with two tenants' events; a tenant with tokens for two WABAs.
 */

const METRICS_TOKEN = 'metrics-token-9f8e7d6c5b4a';
// biome-ignore lint/suspicious/noExplicitAny: tests read API responses loosely and assert on them.
type Json = Record<string, any>;

let h: InProcessBroker;
const BAD_KEY = `wck_abcd1234_${'A'.repeat(43)}`;

beforeAll(async () => {
  h = await startInProcessBroker({
    broker: {
      trustedProxies: ['127.0.0.1'],
      metrics: { token: new Secret(METRICS_TOKEN, 'metrics-token'), port: 0 },
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

/** A new emulated user with a WABA and a number of its own (tenants in this file share nothing at Meta). */
function freshAccount() {
  const emu = h.sandbox.emulator;
  const seed = emu.seed as NonNullable<typeof emu.seed>;
  const waba = emu.world.createWaba({ businessId: seed.businessId });
  const phone = emu.world.createPhoneNumber({ wabaId: waba.id, allowedRecipients: [seed.recipient] });
  const user = emu.world.createUser({ businessIds: [seed.businessId], wabaIds: [waba.id] });
  return { wabaId: waba.id, phoneNumberId: phone.id, userId: user.id };
}

const from = (client: string) => ({ 'x-forwarded-for': client });
async function apiAs(client: string, key: string, path = '/api/v1/tenants') {
  return fetch(`${h.base}${path}`, { headers: { authorization: `Bearer ${key}`, ...from(client) } });
}

describe('failed authentication: counted, throttled after a burst, never locking the right key out', () => {
  it('API: a client past the burst gets 429 + Retry-After; the right key still works; other clients are unaffected', async () => {
    // The admin key is used (and cached) first, from the client that will misbehave.
    expect((await apiAs('203.0.113.7', h.adminKey)).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await apiAs('203.0.113.7', BAD_KEY)).status).toBe(401);
    const throttled = await apiAs('203.0.113.7', BAD_KEY);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await throttled.json()).error.code).toBe('throttled');
    expect((await apiAs('203.0.113.7', h.adminKey)).status).toBe(200);
    // The client address comes from X-Forwarded-For because the socket (loopback) is a trusted proxy.
    expect((await apiAs('203.0.113.8', 'not-a-key')).status).toBe(401);
    const log = h.logs.join('\n');
    expect(log).toContain('authentication failed');
    expect(log).toContain('"keyId":"abcd1234"');
    expect(log).toContain('"client":"203.0.113.7"');
    expectNoSecrets(log, [BAD_KEY.slice(13), h.adminKey]);
  });

  it('proxy: the same, with a Graph-shaped 429', async () => {
    const url = `${h.base}/graph/v26.0/123456/messages`;
    // Another key id than the API test's (whose id is throttled everywhere now).
    const bad = `wck_prox0001_${'B'.repeat(43)}`;
    const call = () => fetch(url, { headers: { authorization: `Bearer ${bad}`, ...from('198.51.100.9') } });
    for (let i = 0; i < 20; i++) expect((await call()).status).toBe(401);
    const res = await call();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await res.json()).error.code).toBe(4);
  });

  it('dashboard: wrong keys past the burst get 429, the right key from the same address still logs in', async () => {
    const login = (key: string) =>
      fetch(`${h.base}/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...from('192.0.2.44') },
        body: new URLSearchParams({ key }).toString(),
      });
    for (let i = 0; i < 20; i++) expect((await login('wrong')).status).toBe(403);
    const refused = await login('wrong');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    const ok = await login(h.adminKey);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('set-cookie')).toContain('SameSite=Lax');
  });

  it('metrics count the failures and throttles per surface', async () => {
    const text = await (
      await fetch(`${h.broker.metricsUrl()}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      })
    ).text();
    for (const surface of ['api', 'proxy', 'dashboard']) {
      expect(text).toMatch(new RegExp(`wacloud_auth_failures_total\\{surface="${surface}"\\} \\d+`));
      expect(text).toMatch(new RegExp(`wacloud_auth_throttled_total\\{surface="${surface}"\\} [1-9]`));
    }
  });
});

describe('/metrics on its own port, behind a token, listing no tenant ids', () => {
  it('is off the public listener, refuses a missing or wrong token, and names no tenant', async () => {
    await control(h, 'dialog/user', { user_id: freshAccount().userId });
    const t = await connectTenant(h, h.adminKey, 'Metrics Tenant');
    // Not served on the public listener (the dashboard sends a stranger to its login page).
    const publicMetrics = await fetch(`${h.base}/metrics`, { redirect: 'manual' });
    expect(publicMetrics.status).toBe(303);
    expect(await publicMetrics.text()).not.toContain('wacloud_');
    const url = `${h.broker.metricsUrl()}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: 'Bearer wrong-token-0000000' } })).status).toBe(401);
    const res = await fetch(url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('wacloud_credential_seconds_to_expiry{credential_id=');
    expect(text).not.toContain(t.tenantId);
    expect(text).not.toContain('tenant_id');
  });
});

describe('input hardening and headers', () => {
  it('`__proto__` and `constructor` are unknown fields like any other, and change nothing', async () => {
    const call = api(h.base, h.adminKey);
    const before = (await call<{ data: unknown[] }>('/tenants')).data.length;
    for (const raw of ['{"name":"x","__proto__":{"admin":true}}', '{"name":"x","constructor":{}}']) {
      const res = await fetch(`${h.base}/api/v1/tenants`, {
        method: 'POST',
        headers: { authorization: `Bearer ${h.adminKey}`, 'content-type': 'application/json' },
        body: raw,
      });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
      expect(JSON.stringify(await res.json())).toMatch(/unknown field.*(__proto__|constructor)/);
    }
    expect((await call<{ data: unknown[] }>('/tenants')).data.length).toBe(before);
  });

  it('every casing and array form of `ids` is refused by the proxy like `ids`', async () => {
    await control(h, 'dialog/user', { user_id: freshAccount().userId });
    const t = await connectTenant(h, h.adminKey, 'Ids Tenant');
    const made = await api(h.base, h.adminKey)<{ key: string }>('/api-keys', { tenantId: t.tenantId });
    const get = (q: string) =>
      fetch(`${h.base}/graph/v26.0/${t.phoneNumberId}?${q}`, {
        headers: { authorization: `Bearer ${made.key}` },
      });
    expect((await get('fields=id')).status).toBe(200);
    for (const q of [
      'ids=1,2',
      'IDS=1',
      'Ids=1',
      'ids[]=1',
      'ids[0]=1',
      'iDs[a][b]=1',
      '%69ds=1',
      'fields=id&ids=2',
    ])
      expect((await get(q)).status, q).toBe(403);
    // Graph reads POST parameters from a form or JSON body too: `ids` there is refused the same way.
    const post = (contentType: string, body: string) =>
      fetch(`${h.base}/graph/v26.0/${t.phoneNumberId}/messages`, {
        method: 'POST',
        headers: { authorization: `Bearer ${made.key}`, 'content-type': contentType },
        body,
      });
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'ids=1,2&messaging_product=whatsapp'],
      ['application/x-www-form-urlencoded', 'IDS%5B%5D=1'],
      ['application/json', '{"messaging_product":"whatsapp","Ids":"1,2"}'],
      ['application/json; charset=utf-8', '{"ids[0]":"1"}'],
    ])
      expect((await post(type, body)).status, body).toBe(403);
    // The same sends without it reach Meta (400 for the missing recipient: Graph's answer, not the proxy's refusal).
    expect((await post('application/json', '{"messaging_product":"whatsapp"}')).status).not.toBe(403);
  });

  it('apiKeys.touch records the last use of a key', async () => {
    const rows = (await api(h.base, h.adminKey)<{ data: Json[] }>('/api-keys')).data;
    const admin = rows.find((r) => h.adminKey.startsWith(`wck_${r.keyId}_`));
    expect(admin?.lastUsedAtMs).toEqual(expect.any(Number));
  });

  it('baseline security headers on pages, API answers, health and the proxy', async () => {
    for (const path of ['/login', '/healthz', '/api/v1/openapi.json', '/graph/v26.0/1/messages']) {
      const res = await fetch(`${h.base}${path}`);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      if (!path.startsWith('/graph'))
        expect(res.headers.get('content-security-policy'), path).toContain("base-uri 'none'");
    }
  });
});

describe('tenants and WABAs', () => {
  /** Connects one more account (the emulator's dialog user `userId`) to an existing tenant through the dashboard. */
  async function connectAgain(tenantId: string, userId: string) {
    await control(h, 'dialog/user', { user_id: userId });
    expect(await connectThroughDashboard(h, h.adminKey, tenantId)).toContain('flash=connected');
  }

  it('a tenant with tokens for two WABAs reaches each with the token that covers it', async () => {
    const first = freshAccount();
    await control(h, 'dialog/user', { user_id: first.userId });
    const t = await connectTenant(h, h.adminKey, 'Two WABAs');
    const second = freshAccount();
    await connectAgain(t.tenantId, second.userId);
    const made = await api(h.base, h.adminKey)<{ key: string }>('/api-keys', { tenantId: t.tenantId });
    const creds = (await api(h.base, made.key)<{ data: Json[] }>(`/tenants/${t.tenantId}/credentials`)).data;
    expect(creds).toHaveLength(2);
    for (const account of [first, second]) {
      const res = await fetch(`${h.base}/graph/v26.0/${account.wabaId}/phone_numbers`, {
        headers: { authorization: `Bearer ${made.key}` },
      });
      const body = (await res.json()) as Json;
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.data.map((n: Json) => n.id)).toEqual([account.phoneNumberId]);
    }
  });

  it("a webhook carrying two tenants' events is listed under each of them", async () => {
    const a = freshAccount();
    await control(h, 'dialog/user', { user_id: a.userId });
    const ta = await connectTenant(h, h.adminKey, 'Webhook A');
    const b = freshAccount();
    await control(h, 'dialog/user', { user_id: b.userId });
    const tb = await connectTenant(h, h.adminKey, 'Webhook B');
    const entry = (account: typeof a, id: string) =>
      (
        JSON.parse(
          whatsappDelivery({
            wabaId: account.wabaId,
            phoneNumberId: account.phoneNumberId,
            messages: [{ id, type: 'text', text: { body: 'hi' } }],
          }),
        ) as { entry: unknown[] }
      ).entry[0];
    const body = JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [entry(a, 'wamid.MULTI_A'), entry(b, 'wamid.MULTI_B')],
    });
    const res = await fetch(`${h.base}/webhook`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-hub-signature-256': signPayload(body, h.sandbox.appSecret),
      },
      body,
    });
    expect(res.status).toBe(200);
    const bytes = Buffer.byteLength(body);
    for (const t of [ta, tb]) {
      const made = await api(h.base, h.adminKey)<{ key: string }>('/api-keys', { tenantId: t.tenantId });
      const row = await until(`the webhook listed under ${t.tenantId}`, async () => {
        const list = (await api(h.base, made.key)<{ data: Json[] }>('/webhooks')).data;
        return list.find((r) => r.bytes === bytes && r.status === 'done');
      });
      // Each tenant sees the row as its own: no other tenant's id in its listing.
      expect(row.tenantId).toBe(t.tenantId);
    }
  });
});
