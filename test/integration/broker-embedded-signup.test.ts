import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLoginDialogUrl } from '../../src/auth/login-dialog.js';
import { createOAuthState } from '../../src/auth/pkce.js';
import {
  control,
  type InProcessBroker,
  sandboxSecrets,
  startInProcessBroker,
  Transcript,
} from '../support/broker.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { consent } from './auth-support.js';

/**
 * Issue #7, "Connect WhatsApp": Embedded Signup and Login for Business. In the sandbox the emulator's dialog with an
 * Embedded Signup configuration (`extras={"setup":{}}`) returns the code (no redirect binding, 30 s) and the
 * WA_EMBEDDED_SIGNUP session info; the broker exchanges it without redirect URI and stores a business integration
 * credential. Everything over real HTTP: dashboard, emulator, callback, API, Graph proxy.
 */

/** A Login for Business configuration id chosen up front, so the broker can be started with it. */
const LFB_CONFIG_ID = '700100200300400';

// biome-ignore lint/suspicious/noExplicitAny: tests read API responses loosely and assert on them.
type Json = Record<string, any>;

async function dashboardSession(h: InProcessBroker, transcript: Transcript) {
  let cookie = '';
  const get = async (url: string, init: RequestInit = {}) => {
    const res = await fetch(url.startsWith('http') ? url : `${h.base}${url}`, {
      ...init,
      redirect: 'manual',
      headers: { cookie, ...(init.headers ?? {}) },
    });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0] as string;
    const text = await res.clone().text();
    transcript.add(`${init.method ?? 'GET'} ${url.split('?')[0]}`, res, text);
    return res;
  };
  await get('/login', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ key: h.adminKey }).toString(),
  });
  return get;
}

function apiCall(h: InProcessBroker, transcript: Transcript) {
  return async (key: string, method: string, path: string, body?: unknown, record = true) => {
    const res = await fetch(`${h.base}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (record) transcript.add(`${method} ${path}`, res, text);
    return { status: res.status, json: (text ? JSON.parse(text) : {}) as Json };
  };
}

/** Every file of the store (SQLite database and WAL) as one latin1 string, to look for a token at rest. */
function storeBytes(h: InProcessBroker): string {
  return readdirSync(h.home.dataDir)
    .filter((f) => f.startsWith('wacloud.db'))
    .map((f) => readFileSync(join(h.home.dataDir, f)).toString('latin1'))
    .join('\n');
}

/** A user of the seeded business with a WABA and number of its own, signed in to the emulator's dialog. */
async function freshUser(h: InProcessBroker) {
  const emu = h.sandbox.emulator;
  const seed = emu.seed as NonNullable<typeof emu.seed>;
  const waba = emu.world.createWaba({ businessId: seed.businessId });
  const phone = emu.world.createPhoneNumber({ wabaId: waba.id, allowedRecipients: [seed.recipient] });
  const user = emu.world.createUser({ businessIds: [seed.businessId], wabaIds: [waba.id] });
  await control(h, 'dialog/user', { user_id: user.id });
  return { wabaId: waba.id, phoneNumberId: phone.id, recipient: seed.recipient, businessId: seed.businessId };
}

describe('broker: Embedded Signup and Login for Business in the sandbox', () => {
  let h: InProcessBroker;
  const transcript = new Transcript();
  const keys: string[] = [];

  beforeAll(async () => {
    h = await startInProcessBroker({ broker: { loginConfigId: LFB_CONFIG_ID } });
    // The Login for Business configuration behind WA_LOGIN_CONFIG_ID: business integration system user token.
    await control(h, `apps/${h.sandbox.appId}/configs`, { id: LFB_CONFIG_ID, token_type: 'system_user' });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  async function tenantWithKey(name: string) {
    const call = apiCall(h, transcript);
    const tenant = (await call(h.adminKey, 'POST', '/api/v1/tenants', { name })).json as { id: string };
    // Not recorded: the new key is in this response on purpose.
    const made = (await call(h.adminKey, 'POST', '/api/v1/api-keys', { tenantId: tenant.id }, false)).json;
    keys.push(made.key);
    return { tenantId: tenant.id, key: made.key as string };
  }

  /** The emulator's Embedded Signup dialog, as FB.login opens it; returns the redirect's parameters. */
  async function signupCode(): Promise<URLSearchParams> {
    const url = buildLoginDialogUrl({
      appId: h.sandbox.appId,
      redirectUri: `${h.base}/connect/embedded-signup/callback`,
      state: createOAuthState(),
      configId: h.sandbox.embeddedSignupConfigId,
      overrideDefaultResponseType: true,
      extras: { setup: {} },
      dialogUrl: h.sandbox.url,
    });
    const location = await consent((u, i) => fetch(u, i), url);
    return new URL(location).searchParams;
  }

  async function proxySend(key: string, phoneNumberId: string, to: string) {
    const res = await fetch(`${h.base}/graph/v26.0/${phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ messaging_product: 'whatsapp', to, type: 'text', text: { body: 'hi' } }),
    });
    transcript.add(`proxy ${phoneNumberId}`, res, await res.text());
    return res.status;
  }

  it('the sandbox seeds an Embedded Signup configuration naming a business integration token', () => {
    const app = h.sandbox.emulator.state.apps.get(h.sandbox.appId);
    expect(app?.configs[h.sandbox.embeddedSignupConfigId]).toMatchObject({
      tokenType: 'system_user',
      expiry: 'never',
      scopes: expect.arrayContaining(['whatsapp_business_management', 'whatsapp_business_messaging']),
    });
  });

  it('API: a code from the emulator’s Embedded Signup flow → business-integration credential, encrypted, its WABA and numbers, proxy works', async () => {
    const w = await freshUser(h);
    const t = await tenantWithKey('Signup API');
    const params = await signupCode();
    // The session info of the WA_EMBEDDED_SIGNUP FINISH message comes with the code.
    expect(params.get('waba_id')).toBe(w.wabaId);
    expect(params.get('phone_number_id')).toBe(w.phoneNumberId);
    expect(params.get('business_id')).toBe(w.businessId);
    const code = params.get('code') as string;
    expect(h.sandbox.emulator.state.codes.get(code)).toMatchObject({ redirectUri: undefined });

    const call = apiCall(h, transcript);
    const res = await call(t.key, 'POST', `/api/v1/tenants/${t.tenantId}/embedded-signup`, {
      code,
      wabaId: params.get('waba_id'),
      phoneNumberId: params.get('phone_number_id'),
      businessId: params.get('business_id'),
    });
    expect(res.status).toBe(201);
    expect(res.json.credential).toMatchObject({
      kind: 'business-integration',
      status: 'active',
      tenantId: t.tenantId,
      expiresAt: null,
    });
    expect(res.json).toMatchObject({ wabaIds: [w.wabaId], phoneNumbers: 1, complete: true, warnings: [] });
    const numbers = (await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/phone-numbers`)).json.data;
    expect(numbers).toEqual([
      expect.objectContaining({
        id: w.phoneNumberId,
        wabaId: w.wabaId,
        credentialId: res.json.credential.id,
      }),
    ]);
    // The token the exchange issued: a business integration system user token, held only encrypted.
    const token = await h.broker.manager.getToken(res.json.credential.id);
    const record = h.sandbox.emulator.state.tokens.get(token.reveal());
    expect(record?.kind).toBe('business_integration');
    expect(storeBytes(h)).not.toContain(token.reveal());
    expect(h.sandbox.emulator.state.wabas.get(w.wabaId)?.subscriptions.map((x) => x.appId)).toContain(
      h.sandbox.appId,
    );
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(200);
    expect(h.sandbox.emulator.sentMessages({ phoneNumberId: w.phoneNumberId })).toHaveLength(1);
  });

  it('API: an Embedded Signup code older than 30 s (virtual clock) is refused with a clear error; nothing stored', async () => {
    await freshUser(h);
    const t = await tenantWithKey('Signup late');
    const code = (await signupCode()).get('code') as string;
    await control(h, 'clock/advance', { seconds: 31 });
    const call = apiCall(h, transcript);
    const res = await call(t.key, 'POST', `/api/v1/tenants/${t.tenantId}/embedded-signup`, { code });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('code_expired');
    expect(res.json.error.message).toMatch(/expired.*Embedded Signup codes 30 seconds/);
    expect((await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/credentials`)).json.data).toEqual([]);
    expect((await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/phone-numbers`)).json.data).toEqual([]);
    const audit = (await call(h.adminKey, 'GET', `/api/v1/audit?tenant=${t.tenantId}`)).json.data as Json[];
    expect(audit.map((a) => a.event)).not.toContain('credential.connected');
  });

  it('dashboard: "Connect with Embedded Signup" → emulator dialog → callback with code and session info → connected', async () => {
    const w = await freshUser(h);
    const t = await tenantWithKey('Signup dashboard');
    const get = await dashboardSession(h, transcript);
    const page = await (await get(`/tenants/${t.tenantId}`)).text();
    expect(page).toContain(`href="/connect/embedded-signup/start?tenant=${t.tenantId}"`);
    expect(page).not.toContain('connect.facebook.net');

    const start = await get(`/connect/embedded-signup/start?tenant=${t.tenantId}`);
    expect(start.status).toBe(303);
    const dialog = new URL(start.headers.get('location') as string);
    // The sandbox's dialog is on another site than the broker (localhost vs 127.0.0.1), as facebook.com is.
    expect(dialog.hostname).toBe('localhost');
    expect(new URL(h.base).hostname).toBe('127.0.0.1');
    expect(dialog.port).toBe(new URL(h.sandbox.url).port);
    expect(Object.fromEntries(dialog.searchParams)).toMatchObject({
      config_id: h.sandbox.embeddedSignupConfigId,
      response_type: 'code',
      override_default_response_type: 'true',
      extras: '{"setup":{}}',
      redirect_uri: `${h.base}/connect/embedded-signup/callback`,
    });
    expect(dialog.searchParams.has('scope')).toBe(false);
    const consentPage = await (await fetch(dialog)).text();
    expect(consentPage).toContain('business integration system user token');
    expect(consentPage).toContain(`<option value="${w.wabaId}">`);

    const callback = await consent((u, i) => fetch(u, i), dialog.toString());
    expect(new URL(callback).pathname).toBe('/connect/embedded-signup/callback');
    // The state is bound to the session that started the signup: another admin session cannot complete it (and
    // does not spend it).
    const other = await dashboardSession(h, transcript);
    expect((await other(callback)).status).toBe(400);
    const done = await get(callback);
    expect(done.headers.get('location')).toBe(`/tenants/${t.tenantId}?flash=connected`);
    // The state is single use: the same callback again is refused and stores nothing more.
    expect((await get(callback)).status).toBe(400);

    const call = apiCall(h, transcript);
    const creds = (await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/credentials`)).json.data;
    expect(creds).toEqual([expect.objectContaining({ kind: 'business-integration', status: 'active' })]);
    const numbers = (await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/phone-numbers`)).json.data;
    expect(numbers.map((n: Json) => n.id)).toEqual([w.phoneNumberId]);
    const audit = (await call(h.adminKey, 'GET', `/api/v1/audit?tenant=${t.tenantId}`)).json.data as Json[];
    expect(audit.find((a) => a.event === 'credential.embedded_signup')?.detail).toMatchObject({
      wabaId: w.wabaId,
      phoneNumberId: w.phoneNumberId,
    });
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(200);
  });

  it('dashboard: Connect with WA_LOGIN_CONFIG_ID is Login for Business (config_id, no scope) → business integration credential', async () => {
    const w = await freshUser(h);
    const t = await tenantWithKey('Login for Business');
    const get = await dashboardSession(h, transcript);
    const start = await get(`/connect/start?tenant=${t.tenantId}`);
    const dialog = new URL(start.headers.get('location') as string);
    expect(dialog.searchParams.get('config_id')).toBe(LFB_CONFIG_ID);
    expect(dialog.searchParams.get('override_default_response_type')).toBe('true');
    expect(dialog.searchParams.has('scope')).toBe(false);
    expect(dialog.searchParams.has('extras')).toBe(false);
    const consentPage = await (await fetch(dialog)).text();
    expect(consentPage).toContain(`Login for Business configuration ${LFB_CONFIG_ID}`);
    expect(consentPage).toContain('business integration system user token');

    const callback = await consent((u, i) => fetch(u, i), dialog.toString());
    expect(new URL(callback).pathname).toBe('/connect/callback');
    const done = await get(callback);
    expect(done.headers.get('location')).toBe(`/tenants/${t.tenantId}?flash=connected`);
    const call = apiCall(h, transcript);
    const creds = (await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/credentials`)).json.data;
    expect(creds).toEqual([
      expect.objectContaining({ kind: 'business-integration', status: 'active', expiresAt: null }),
    ]);
    const token = await h.broker.manager.getToken(creds[0].id);
    expect(h.sandbox.emulator.state.tokens.get(token.reveal())?.kind).toBe('business_integration');
    expect(await proxySend(t.key, w.phoneNumberId, w.recipient)).toBe(200);
  });

  it('the emulator refuses Embedded Signup without a configuration, and a cancelled signup stores nothing', async () => {
    const noConfig = new URL(`${h.sandbox.url}/v26.0/dialog/oauth`);
    for (const [k, v] of Object.entries({
      client_id: h.sandbox.appId,
      redirect_uri: `${h.base}/connect/embedded-signup/callback`,
      response_type: 'code',
      scope: 'whatsapp_business_management',
      extras: '{"setup":{}}',
    }))
      noConfig.searchParams.set(k, v);
    const refused = await fetch(noConfig);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Embedded Signup needs a config_id');

    const t = await tenantWithKey('Signup cancelled');
    const get = await dashboardSession(h, transcript);
    const start = await get(`/connect/embedded-signup/start?tenant=${t.tenantId}`);
    const callback = await consent((u, i) => fetch(u, i), start.headers.get('location') as string, 'cancel');
    expect((await get(callback)).headers.get('location')).toBe('/?flash=denied');
    const call = apiCall(h, transcript);
    expect((await call(t.key, 'GET', `/api/v1/tenants/${t.tenantId}/credentials`)).json.data).toEqual([]);
  });

  it('no token, app secret or key in any response or log line of these flows', () => {
    const secrets = [...sandboxSecrets(h), ...keys, h.adminKey];
    expectNoSecrets(transcript.text(), secrets, 'responses');
    expectNoSecrets(h.logs.join('\n'), secrets, 'logs');
  });
});

describe('broker: Embedded Signup with a real Meta app (JS SDK snippet; the SDK is never fetched)', () => {
  let h: InProcessBroker;
  const transcript = new Transcript();

  beforeAll(async () => {
    // Not a sandbox: the dashboard renders Meta's JS SDK snippet. Graph is still the emulator underneath.
    h = await startInProcessBroker({ broker: { sandbox: false } });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('the tenant page runs FB.login with the configuration under a nonce CSP; the code it posts connects the tenant', async () => {
    const w = await freshUser(h);
    const call = apiCall(h, transcript);
    const tenant = (await call(h.adminKey, 'POST', '/api/v1/tenants', { name: 'Real app' })).json;
    const get = await dashboardSession(h, transcript);
    const res = await get(`/tenants/${tenant.id}`);
    const page = await res.text();
    const csp = res.headers.get('content-security-policy') as string;
    const nonce = /<script nonce="([^"]+)">/.exec(page)?.[1] as string;
    expect(nonce).toBeTruthy();
    expect(csp).toContain(`script-src 'self' 'nonce-${nonce}' https://connect.facebook.net`);
    // One script-src (a repeated directive would be ignored), never 'unsafe-inline'.
    expect(csp.match(/script-src/g)).toHaveLength(1);
    expect(/script-src[^;]*unsafe-inline/.test(csp)).toBe(false);
    expect(page).toContain('src="https://connect.facebook.net/en_US/sdk.js"');
    expect(page).toContain(
      `config_id: '${h.sandbox.embeddedSignupConfigId}', response_type: 'code', override_default_response_type: true, extras: { setup: {} }`,
    );
    expect(page).toContain("data.type !== 'WA_EMBEDDED_SIGNUP'");
    expect(page).not.toContain('/connect/embedded-signup/start');
    // No redirect-based signup outside the sandbox.
    expect((await get(`/connect/embedded-signup/start?tenant=${tenant.id}`)).status).toBe(404);

    // What the snippet posts once FB.login returns: the code (here from the emulator, as the SDK would) and the ids.
    const minted = await control(h, 'oauth/codes', {
      config_id: h.sandbox.embeddedSignupConfigId,
      waba_ids: [w.wabaId],
    });
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)?.[1] as string;
    const posted = await get(`/tenants/${tenant.id}/embedded-signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        csrf,
        code: String(minted.code),
        waba_id: w.wabaId,
        phone_number_id: w.phoneNumberId,
        business_id: w.businessId,
      }).toString(),
    });
    expect(posted.headers.get('location')).toBe(`/tenants/${tenant.id}?flash=connected`);
    const creds = (await call(h.adminKey, 'GET', `/api/v1/tenants/${tenant.id}/credentials`)).json.data;
    expect(creds).toEqual([expect.objectContaining({ kind: 'business-integration', status: 'active' })]);
    // Without the CSRF token the form is refused.
    const forged = await get(`/tenants/${tenant.id}/embedded-signup`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code: String(minted.code) }).toString(),
    });
    expect(forged.status).toBe(403);
    expectNoSecrets(transcript.text(), [...sandboxSecrets(h), h.adminKey], 'responses');
  });
});
