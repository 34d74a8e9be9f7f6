import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOKEN_POLICIES } from '../../src/auth/token-manager.js';
import {
  brokerRunSecrets,
  parseMetrics,
  type RunningBroker,
  startBrokerProcess,
  Transcript,
} from '../support/broker.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';

const DAY_S = 86_400;

/**
 * Issue #7: a 60-day system-user token pasted into a real `wacloud up` (sandbox) is renewed by the broker itself,
 * once, with fb_exchange_token + set_token_expires_in_60_days, when the emulator's virtual clock enters the renew
 * window; the proxy then sends with the new token, the audit log and the tenant's outbound webhook say so, and no
 * token or secret shows anywhere.
 */
describe('60-day system-user renewal through a real `wacloud up` on its sandbox', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-renewal-'));
  let b: RunningBroker;
  let subscriber: Server;
  let subscriberUrl: string;
  const received: Array<{ headers: Record<string, string>; body: string }> = [];
  const transcript = new Transcript();

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
    subscriberUrl = `http://127.0.0.1:${(subscriber.address() as AddressInfo).port}/token-events`;
    b = await startBrokerProcess(dataDir);
  }, 90_000);

  afterAll(async () => {
    await b?.proc.stop();
    await new Promise((r) => subscriber.close(r));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The broker's API; every answer is recorded for the secret scan unless it carries a secret on purpose. */
  async function api(key: string, method: string, path: string, body?: unknown, record = true) {
    const res = await fetch(`${b.base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    transcript.add(`${method} ${path}`, res, text);
    // A new key or subscription secret is in its create response on purpose.
    if (!record)
      for (const v of [/"key":"([^"]+)"/, /"secret":"([^"]+)"/]) {
        const shown = v.exec(text)?.[1];
        if (shown) transcript.shownOnce(shown);
      }
    // biome-ignore lint/suspicious/noExplicitAny: tests read API responses loosely and assert on them.
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as Record<string, any> };
  }

  /** The emulator's control API (it hands out secrets on purpose: not part of the scan). */
  async function control(method: string, path: string, body?: unknown) {
    const res = await fetch(`${b.emulatorUrl}/_emulator/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`control ${path}: ${res.status} ${text}`);
    // biome-ignore lint/suspicious/noExplicitAny: control API answers are read loosely.
    return (text ? JSON.parse(text) : {}) as Record<string, any>;
  }

  async function proxySend(key: string, phoneNumberId: string, to: string) {
    const res = await fetch(`${b.base}/graph/v26.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to,
        type: 'text',
        text: { body: 'renewal check' },
      }),
    });
    const text = await res.text();
    transcript.add(`proxy ${phoneNumberId}`, res, text);
    return { status: res.status, json: JSON.parse(text) as { messages?: Array<{ id: string }> } };
  }

  it('renews once in the renew window, sends with the new token, audits it and signs the outbound event', async () => {
    const adminKey = b.adminKey as string;
    expect(adminKey).toMatch(/^wck_/);
    const seed = await control('GET', 'seed');
    // A 60-day token of the seeded system user (assigned to the seeded WABA in Business settings).
    const minted = await control('POST', 'tokens', {
      kind: 'system_user_60d',
      subject_id: seed.systemUserId,
      target_ids: [seed.wabaId],
    });
    const firstToken = String(minted.access_token);

    const tenant = (await api(adminKey, 'POST', '/tenants', { name: 'Renewing' })).json as { id: string };
    const added = await api(adminKey, 'POST', `/tenants/${tenant.id}/credentials`, { token: firstToken });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ kind: 'system-user', status: 'active', version: 1 });
    const credentialId = added.json.id as string;
    const expiresAt = Date.parse(added.json.expiresAt as string);
    const startMs = (await control('GET', 'clock')).now_ms as number;
    expect(Math.round((expiresAt - startMs) / (DAY_S * 1000))).toBe(60);
    // The paste discovered the seeded WABA and its number, so the proxy lets the tenant use it.
    expect(added.json.discovery).toMatchObject({ wabaIds: [seed.wabaId], complete: true });
    expect(added.json.discovery.phoneNumbers).toBeGreaterThanOrEqual(1);

    const made = await api(adminKey, 'POST', '/api-keys', { tenantId: tenant.id, label: 'svc' }, false);
    const tenantKey = made.json.key as string;
    const first = await proxySend(tenantKey, seed.phoneNumberId, seed.recipient);
    expect(first.status).toBe(200);
    expect(first.json.messages?.[0]?.id).toMatch(/^wamid\./);

    const sub = await api(
      tenantKey,
      'POST',
      `/tenants/${tenant.id}/subscriptions`,
      { url: subscriberUrl, events: ['credential.refreshed', 'credential.rotated'] },
      false,
    );
    expect(sub.status).toBe(201);
    const subscriptionSecret = sub.json.secret as string;

    // Into the renew window: 51 of 60 days gone leaves 9, under renewBeforeExpiryMs (10 days).
    const advanceDays = 51;
    expect(60 * DAY_S * 1000 - advanceDays * DAY_S * 1000).toBeLessThan(
      DEFAULT_TOKEN_POLICIES.renewBeforeExpiryMs,
    );
    await control('DELETE', 'counters');
    await control('POST', 'clock/advance', { seconds: advanceDays * DAY_S });

    const renewed = await until('version 2', async () => {
      const got = await api(tenantKey, 'GET', `/credentials/${credentialId}`);
      return got.json.version === 2 ? got.json : undefined;
    });
    expect(renewed).toMatchObject({ status: 'active', kind: 'system-user', failures: 0, lastError: null });
    const renewedAtMs = (await control('GET', 'clock')).now_ms as number;
    // /metrics: one renewal, no failure, and the expiry gauge 60 days out again.
    const metrics = async () =>
      parseMetrics(await transcript.fetch(`${b.base}/metrics`).then((r) => r.text()));
    const m = await until('the refreshed event counted', async () => {
      const got = await metrics();
      return got.value('wacloud_token_events_total', { event: 'refreshed' }) ? got : undefined;
    });
    expect(m.value('wacloud_token_events_total', { event: 'refreshed' })).toBe(1);
    expect(m.value('wacloud_token_events_total', { event: 'renewal_failed' })).toBeUndefined();
    const toExpiry = m.value('wacloud_credential_seconds_to_expiry', {
      credential_id: credentialId,
      kind: 'system-user',
    });
    expect(Math.round((toExpiry ?? 0) / DAY_S)).toBe(60);
    // A fresh 60 days from the renewal (at most a few seconds of real time went by meanwhile).
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(expiresAt);
    expect(Math.round((Date.parse(renewed.expiresAt) - renewedAtMs) / (DAY_S * 1000))).toBe(60);

    // The subscriber gets credential.refreshed (and .rotated), signed the Standard Webhooks way.
    const refreshed = await until('the credential.refreshed delivery', async () =>
      received.find((r) => (JSON.parse(r.body) as { type: string }).type === 'credential.refreshed'),
    );
    expect(() => new Webhook(subscriptionSecret).verify(refreshed.body, refreshed.headers)).not.toThrow();
    expect(refreshed.headers['webhook-id']).toBeTruthy();
    const event = JSON.parse(refreshed.body) as { type: string; data: Record<string, unknown> };
    expect(event.data).toMatchObject({
      credentialId,
      tenantId: tenant.id,
      version: 2,
      previousVersion: 1,
      method: 'renew-60-day',
      trigger: 'schedule',
    });
    // A tampered body fails the same check: the signature covers what was sent.
    expect(() =>
      new Webhook(subscriptionSecret).verify(
        refreshed.body.replace('"version":2', '"version":3'),
        refreshed.headers,
      ),
    ).toThrow();

    // Exactly one exchange for it (the only credential in this broker), not one per sweep.
    const counters = await control('GET', 'counters');
    expect(counters['GET /oauth/access_token grant_type=fb_exchange_token']).toBe(1);

    const audit = (await api(adminKey, 'GET', `/audit?tenant=${tenant.id}`)).json.data as Array<{
      event: string;
      credentialId: string | null;
      detail: Record<string, unknown>;
    }>;
    const auditRefreshed = audit.filter((a) => a.event === 'credential.refreshed');
    expect(auditRefreshed).toHaveLength(1);
    expect(auditRefreshed[0]).toMatchObject({
      credentialId,
      detail: { method: 'renew-60-day', previousVersion: 1, version: 2 },
    });

    // The old token may still be valid at Meta: revoke it, so only the new one can send. One upstream call for the
    // send (no 190 then retry) and no debug_token (no suspect inspection) means the proxy used the new token at once.
    await control('POST', 'tokens/revoke', { access_token: firstToken });
    await control('DELETE', 'counters');
    const second = await proxySend(tenantKey, seed.phoneNumberId, seed.recipient);
    expect(second.status).toBe(200);
    const after = await control('GET', 'counters');
    expect(after['POST /{phone-number-id}/messages']).toBe(1);
    expect(after['GET /debug_token'] ?? 0).toBe(0);
    const sent = (await control('GET', `messages?phone_number_id=${seed.phoneNumberId}`)) as {
      data?: Array<{ id: string }>;
    };
    expect(JSON.stringify(sent)).toContain(String(second.json.messages?.[0]?.id));
    expect((await api(tenantKey, 'GET', `/credentials/${credentialId}`)).json).toMatchObject({
      version: 2,
      status: 'active',
    });

    // Every token the emulator ever issued (the renewed one included), and every other secret of the run.
    const run = await brokerRunSecrets(dataDir, b.emulatorUrl);
    expect(run.metaTokens).toContain(firstToken);
    expect(run.metaTokens.length).toBeGreaterThanOrEqual(3);
    const secrets = [...run.all, tenantKey, subscriptionSecret];
    expect(b.proc.output().split(adminKey)).toHaveLength(2);
    const everything = [
      b.proc.output().replace(adminKey, ''), // the banner prints the admin key once, on purpose
      transcript.text(),
    ].join('\n');
    expect(everything).toContain('"type":"credential.refreshed"');
    expectNoSecrets(everything, [...secrets, adminKey], 'renewal run');
    expect(everything).not.toMatch(/EAA[A-Za-z0-9]{20,}/);
  }, 90_000);
});
