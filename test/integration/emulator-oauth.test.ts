import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  computeAppSecretProof,
  createEmulator,
  type Emulator,
  startEmulator,
} from '../../src/emulator/index.js';
import { call } from './emulator-support.js';

/** The app's redirect target: echoes the query string it receives as JSON. */
let callbackServer: Server;
let callbackUrl: string;
beforeAll(async () => {
  callbackServer = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ path: u.pathname, query: Object.fromEntries(u.searchParams), search: u.search }),
    );
  });
  await new Promise<void>((r) => callbackServer.listen(0, '127.0.0.1', r));
  callbackUrl = `http://127.0.0.1:${(callbackServer.address() as AddressInfo).port}/auth/callback`;
});
afterAll(async () => {
  await new Promise<void>((r) => {
    callbackServer.close(() => r());
    callbackServer.closeAllConnections();
  });
});

let stop: (() => Promise<void>) | undefined;
let emu: Emulator;
afterEach(async () => {
  await stop?.();
  stop = undefined;
  await emu?.close();
});

/** Drives the consent page like a browser without JavaScript: GET the dialog, submit the form, follow redirects. */
async function login(base: string, query: Record<string, string>, decision: 'continue' | 'cancel') {
  const page = await fetch(`${base}/v23.0/dialog/oauth?${new URLSearchParams(query)}`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1];
  expect(action).toBeDefined();
  expect(html).toMatch(/<button type="submit" name="decision" value="continue">/);
  expect(html).toMatch(/<button type="submit" name="decision" value="cancel">/);
  const landed = await fetch(new URL(action as string, base), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request_id: requestId as string, decision }).toString(),
    redirect: 'follow',
  });
  expect(landed.status).toBe(200);
  return {
    html,
    result: (await landed.json()) as { path: string; query: Record<string, string>; search: string },
  };
}

describe('Facebook Login against the emulator over loopback', () => {
  it('consent page → code → short-lived token → long-lived token → debug_token', async () => {
    const started = await startEmulator({ seed: { redirectUris: [callbackUrl] } });
    stop = started.close;
    const { url, emulator } = started;
    const seed = emulator.seed!;
    const { html, result } = await login(
      url,
      {
        client_id: seed.appId,
        redirect_uri: callbackUrl,
        state: 'st=abc 123',
        scope: 'whatsapp_business_management,whatsapp_business_messaging',
      },
      'continue',
    );
    expect(html).toContain('Emulated App');
    expect(html).toContain('whatsapp_business_messaging');
    expect(result.path).toBe('/auth/callback');
    expect(Object.keys(result.query)).toEqual(['code', 'state']);
    expect(result.query.state).toBe('st=abc 123');
    const code = result.query.code as string;

    const exchange = (extra: Record<string, string>) =>
      fetch(
        `${url}/v23.0/oauth/access_token?${new URLSearchParams({ client_id: seed.appId, client_secret: seed.appSecret, ...extra })}`,
      );
    const short = (await (await exchange({ redirect_uri: callbackUrl, code })).json()) as Record<
      string,
      unknown
    >;
    expect(short).toMatchObject({ token_type: 'bearer', expires_in: 7200 });
    const shortToken = short.access_token as string;

    const reused = await exchange({ redirect_uri: callbackUrl, code });
    expect(reused.status).toBe(400);
    expect(reused.headers.get('www-authenticate')).toBe(
      'OAuth "Facebook Platform" "invalid_code" "This authorization code has been used."',
    );
    expect(((await reused.json()) as { error: object }).error).toMatchObject({
      code: 100,
      error_subcode: 36009,
    });

    const long = (await (
      await exchange({ grant_type: 'fb_exchange_token', fb_exchange_token: shortToken })
    ).json()) as Record<string, unknown>;
    expect(long.token_type).toBe('bearer');
    expect(long.expires_in).toBe(60 * 86_400);
    expect(long.access_token).not.toBe(shortToken);
    const again = (await (
      await exchange({ grant_type: 'fb_exchange_token', fb_exchange_token: long.access_token as string })
    ).json()) as Record<string, unknown>;
    expect(again.access_token).toBe(long.access_token);
    expect(again.expires_in).toBeLessThanOrEqual(60 * 86_400);

    const dbg = await fetch(
      `${url}/v23.0/debug_token?input_token=${long.access_token}&access_token=${seed.appId}|${seed.appSecret}`,
    );
    expect(dbg.status).toBe(200);
    const data = ((await dbg.json()) as { data: Record<string, unknown> }).data;
    expect(Object.keys(data)).toEqual([
      'app_id',
      'type',
      'application',
      'data_access_expires_at',
      'expires_at',
      'is_valid',
      'issued_at',
      'scopes',
      'granular_scopes',
      'user_id',
    ]);
    expect(data).toMatchObject({
      app_id: seed.appId,
      type: 'USER',
      application: 'Emulated App',
      is_valid: true,
      user_id: seed.userId,
    });
    expect(data.scopes).toEqual([
      'public_profile',
      'whatsapp_business_management',
      'whatsapp_business_messaging',
    ]);
    expect(data.granular_scopes).toEqual([
      { scope: 'public_profile' },
      { scope: 'whatsapp_business_management', target_ids: [seed.wabaId] },
      { scope: 'whatsapp_business_messaging', target_ids: [seed.wabaId] },
    ]);
    // The token works for WhatsApp calls on the granted WABA.
    const send = await fetch(`${url}/v23.0/${seed.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${long.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to: seed.recipient,
        type: 'text',
        text: { body: 'logged in' },
      }),
    });
    expect(send.status).toBe(200);
    expect(emulator.counters()['GET /oauth/access_token']).toBe(4);
    expect(emulator.counters()['GET /oauth/access_token grant_type=fb_exchange_token']).toBe(2);
  });

  it("Cancel redirects with error=access_denied and Meta's parameters, state echoed", async () => {
    const started = await startEmulator({ seed: { redirectUris: [callbackUrl] } });
    stop = started.close;
    const seed = started.emulator.seed!;
    const { result } = await login(
      started.url,
      { client_id: seed.appId, redirect_uri: callbackUrl, state: 's1' },
      'cancel',
    );
    expect(result.search).toBe(
      '?error=access_denied&error_reason=user_denied&error_description=Permissions+error.&error_code=200&state=s1',
    );
  });

  it('refuses redirect URIs that do not match exactly, and unknown apps', async () => {
    const started = await startEmulator({ seed: { redirectUris: [callbackUrl] } });
    stop = started.close;
    const seed = started.emulator.seed!;
    for (const bad of [
      `${callbackUrl}/`,
      `${callbackUrl}?x=1`,
      callbackUrl.replace('127.0.0.1', 'localhost'),
    ]) {
      const res = await fetch(
        `${started.url}/v23.0/dialog/oauth?client_id=${seed.appId}&redirect_uri=${encodeURIComponent(bad)}&state=x`,
      );
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('URL blocked');
    }
    const unknown = await fetch(
      `${started.url}/v23.0/dialog/oauth?client_id=1&redirect_uri=${encodeURIComponent(callbackUrl)}`,
    );
    expect(await unknown.text()).toContain('Invalid App ID');
  });
});

describe('code exchange rules (in-process)', () => {
  const exchange = (e: Emulator, params: Record<string, string>) =>
    call(
      e,
      'GET',
      `/v23.0/oauth/access_token?${new URLSearchParams({ client_id: e.seed!.appId, client_secret: e.seed!.appSecret, ...params })}`,
    );

  async function codeFor(e: Emulator, extra: Record<string, string> = {}): Promise<string> {
    const page = await e.fetch(
      `http://emulator/v23.0/dialog/oauth?${new URLSearchParams({ client_id: e.seed!.appId, redirect_uri: 'https://app.example/cb', state: 's', ...extra })}`,
    );
    const html = await page.text();
    const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1] as string;
    const res = await e.fetch('http://emulator/v23.0/dialog/oauth/decision', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `request_id=${requestId}&decision=continue`,
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    return new URL(res.headers.get('location') as string).searchParams.get('code') as string;
  }

  it('expired (36007), wrong redirect (36008), bad client (101) and bad secret (1) errors are Graph-shaped 400s', async () => {
    emu = createEmulator({ seed: { redirectUris: ['https://app.example/cb'] } });
    const code = await codeFor(emu);
    const wrongRedirect = await exchange(emu, { code, redirect_uri: 'https://app.example/other' });
    expect(wrongRedirect.status).toBe(400);
    expect(wrongRedirect.json.error).toMatchObject({ code: 100, error_subcode: 36008 });
    const noRedirect = await exchange(emu, { code });
    expect(noRedirect.json.error.error_subcode).toBe(36008);
    await emu.clock.advance(601_000);
    const expired = await exchange(emu, { code, redirect_uri: 'https://app.example/cb' });
    expect(expired.json.error).toMatchObject({
      code: 100,
      error_subcode: 36007,
      message: 'This authorization code has expired.',
    });
    const badClient = await call(
      emu,
      'GET',
      '/v23.0/oauth/access_token?client_id=123&client_secret=x&code=y',
    );
    expect(badClient.json.error).toMatchObject({
      code: 101,
      message: 'Error validating application. Invalid application ID.',
    });
    const badSecret = await exchange(emu, { client_secret: 'f'.repeat(32), code });
    expect(badSecret.json.error).toMatchObject({ code: 1, message: 'Error validating client secret.' });
  });

  it('PKCE: S256 and plain challenges are enforced at the exchange', async () => {
    emu = createEmulator({ seed: { redirectUris: ['https://app.example/cb'] } });
    const verifier = randomBytes(40).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const code = await codeFor(emu, { code_challenge: challenge, code_challenge_method: 'S256' });
    const missing = await exchange(emu, { code, redirect_uri: 'https://app.example/cb' });
    expect(missing.json.error.message).toMatch(/code_verifier/);
    const wrong = await exchange(emu, {
      code,
      redirect_uri: 'https://app.example/cb',
      code_verifier: randomBytes(40).toString('base64url'),
    });
    expect(wrong.json.error.message).toMatch(/code_verifier/);
    const ok = await exchange(emu, { code, redirect_uri: 'https://app.example/cb', code_verifier: verifier });
    expect(ok.status).toBe(200);
    const plainCode = await codeFor(emu, { code_challenge: verifier, code_challenge_method: 'plain' });
    expect(
      (
        await exchange(emu, {
          code: plainCode,
          redirect_uri: 'https://app.example/cb',
          code_verifier: verifier,
        })
      ).status,
    ).toBe(200);
  });

  it('Embedded Signup codes: exchanged without redirect_uri, 30-second TTL, BISU token with the shared WABAs', async () => {
    emu = createEmulator();
    const config = await call(emu, 'POST', `/_emulator/apps/${emu.seed!.appId}/configs`, {
      body: { token_type: 'system_user' },
    });
    expect(config.status).toBe(201);
    const mk = async () =>
      (await call(emu, 'POST', '/_emulator/oauth/codes', { body: { config_id: config.json.id } })).json
        .code as string;
    const code = await mk();
    const res = await exchange(emu, { code });
    expect(res.status).toBe(200);
    expect(res.json.token_type).toBe('bearer');
    expect(res.json.expires_in).toBeUndefined();
    const app = `${emu.seed!.appId}|${emu.seed!.appSecret}`;
    const dbg = await call(emu, 'GET', `/v23.0/debug_token?input_token=${res.json.access_token}`, {
      token: app,
    });
    expect(dbg.json.data).toMatchObject({
      type: 'SYSTEM_USER',
      expires_at: 0,
      data_access_expires_at: 0,
      is_valid: true,
    });
    expect(dbg.json.data.granular_scopes).toContainEqual({
      scope: 'whatsapp_business_management',
      target_ids: [emu.seed!.wabaId],
    });
    const me = await call(emu, 'GET', '/v23.0/me?fields=client_business_id', {
      token: res.json.access_token,
    });
    expect(me.json).toEqual({ client_business_id: emu.seed!.businessId, id: dbg.json.data.user_id });

    const late = await mk();
    await emu.clock.advance(31_000);
    expect((await exchange(emu, { code: late })).json.error.error_subcode).toBe(36007);
    const withRedirect = await mk();
    expect(
      (await exchange(emu, { code: withRedirect, redirect_uri: 'https://app.example/cb' })).json.error
        .error_subcode,
    ).toBe(36008);
  });

  it('fb_exchange_token: expired → 190/463; system-user tokens get a fresh 60 days with set_token_expires_in_60_days', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    await emu.clock.advance(25 * 3_600_000);
    const expired = await exchange(emu, {
      grant_type: 'fb_exchange_token',
      fb_exchange_token: seed.accessToken,
    });
    expect(expired.status).toBe(400);
    expect(expired.json.error).toMatchObject({ code: 190, error_subcode: 463 });
    expect(expired.json.error.message).toMatch(/^Error validating access token: Session has expired on /);

    const su = emu.world.mintToken({ kind: 'system_user_60d', appId: seed.appId });
    await emu.clock.advance(50 * 86_400_000);
    const same = await exchange(emu, { grant_type: 'fb_exchange_token', fb_exchange_token: su.accessToken });
    expect(same.json.access_token).toBe(su.accessToken);
    expect(same.json.expires_in).toBeLessThanOrEqual(10 * 86_400);
    const fresh = await exchange(emu, {
      grant_type: 'fb_exchange_token',
      fb_exchange_token: su.accessToken,
      set_token_expires_in_60_days: 'true',
    });
    expect(fresh.json.access_token).not.toBe(su.accessToken);
    expect(fresh.json.expires_in).toBe(60 * 86_400);
    // The old one keeps working until its own expiry.
    expect((await call(emu, 'GET', `/v23.0/${seed.phoneNumberId}`, { token: su.accessToken })).status).toBe(
      200,
    );
    await emu.clock.advance(11 * 86_400_000);
    expect(
      (await call(emu, 'GET', `/v23.0/${seed.phoneNumberId}`, { token: su.accessToken })).json.error
        .error_subcode,
    ).toBe(463);
    expect(
      (await call(emu, 'GET', `/v23.0/${seed.phoneNumberId}`, { token: fresh.json.access_token })).status,
    ).toBe(200);
  });

  it('debug_token: invalid tokens come back HTTP 200 with is_valid false and data.error.subcode', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const app = `${seed.appId}|${seed.appSecret}`;
    await emu.clock.advance(25 * 3_600_000);
    const res = await call(
      emu,
      'GET',
      `/v23.0/debug_token?input_token=${seed.accessToken}&access_token=${encodeURIComponent(app)}`,
    );
    expect(res.status).toBe(200);
    expect(res.json.data.is_valid).toBe(false);
    expect(res.json.data.error).toMatchObject({ code: 190, subcode: 463 });
    expect(res.json.data.error.error_subcode).toBeUndefined();
    expect(res.json.data).toMatchObject({ app_id: seed.appId, type: 'USER', user_id: seed.userId });
    const garbage = await call(
      emu,
      'GET',
      `/v23.0/debug_token?input_token=EAAWnothing&access_token=${encodeURIComponent(app)}`,
      {},
    );
    expect(garbage.status).toBe(200);
    expect(garbage.json.data).toMatchObject({ is_valid: false, error: { code: 190 } });
    const noCaller = await call(emu, 'GET', `/v23.0/debug_token?input_token=${seed.accessToken}`);
    expect(noCaller.status).toBe(400);
    expect(noCaller.json.error.code).toBe(104);
  });

  it('oauth/revoke and system-user installation + token generation with appsecret_proof', async () => {
    emu = createEmulator();
    const seed = emu.seed!;
    const admin = emu.world.mintToken({ kind: 'system_user', appId: seed.appId }).accessToken;
    const su = emu.world.createSystemUser({
      businessId: seed.businessId,
      name: 'Bot',
      wabaIds: [seed.wabaId],
    });
    const base = `/v23.0/${su.id}`;
    const noApp = await call(emu, 'POST', `${base}/access_tokens`, {
      form: {
        business_app: seed.appId,
        scope: 'whatsapp_business_messaging',
        appsecret_proof: computeAppSecretProof(admin, seed.appSecret),
      },
      token: admin,
    });
    expect(noApp.json.error.message).toMatch(/not installed/);
    expect(
      (await call(emu, 'POST', `${base}/applications`, { form: { business_app: seed.appId }, token: admin }))
        .json,
    ).toEqual({ success: true });
    const noProof = await call(emu, 'POST', `${base}/access_tokens`, {
      form: { business_app: seed.appId, scope: 'whatsapp_business_messaging' },
      token: admin,
    });
    expect(noProof.json.error.message).toBe('API calls from the server require an appsecret_proof argument');
    const made = await call(emu, 'POST', `${base}/access_tokens`, {
      form: {
        business_app: seed.appId,
        scope: 'whatsapp_business_messaging,whatsapp_business_management',
        appsecret_proof: computeAppSecretProof(admin, seed.appSecret),
        set_token_expires_in_60_days: 'true',
      },
      token: admin,
    });
    expect(Object.keys(made.json)).toEqual(['access_token']);
    const dbg = await call(emu, 'GET', `/v23.0/debug_token?input_token=${made.json.access_token}`, {
      token: `${seed.appId}|${seed.appSecret}`,
    });
    expect(dbg.json.data).toMatchObject({ type: 'SYSTEM_USER', user_id: su.id, data_access_expires_at: 0 });
    expect(dbg.json.data.expires_at).toBeGreaterThan(Math.floor(emu.clock.now() / 1000) + 59 * 86_400);

    const revoke = await call(
      emu,
      'GET',
      `/v23.0/oauth/revoke?client_id=${seed.appId}&client_secret=${seed.appSecret}&revoke_token=${made.json.access_token}`,
    );
    expect(revoke.json).toEqual({ success: true });
    expect(
      (await call(emu, 'GET', `/v23.0/${seed.phoneNumberId}`, { token: made.json.access_token })).json.error
        .error_subcode,
    ).toBe(467);
  });
});
