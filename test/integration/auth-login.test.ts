import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AuthorizationCodeError,
  completeEmbeddedSignup,
  createAuthClient,
  createLoginFlow,
  createTokenManager,
  MemoryCredentialStore,
  OAuthDeniedError,
  OAuthError,
  OAuthStateError,
  OAuthUnavailableError,
  sharedWabaIds,
} from '../../src/auth/index.js';
import { pkceChallenge } from '../../src/auth/pkce.js';
import { startEmulator } from '../../src/emulator/index.js';
import { type Transport, TransportError } from '../../src/transport/index.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { type AuthWorld, consent, createAuthWorld, IN_PROCESS_URL, REDIRECT_URI } from './auth-support.js';

const SCOPES = ['whatsapp_business_management', 'whatsapp_business_messaging'];
let w: AuthWorld;

beforeEach(async () => {
  w = await createAuthWorld();
});
afterEach(async () => {
  await w.close();
});

function flow(extra: Partial<Parameters<typeof createLoginFlow>[0]> = {}) {
  return createLoginFlow({
    auth: w.auth,
    redirectUri: REDIRECT_URI,
    scopes: SCOPES,
    dialogUrl: IN_PROCESS_URL,
    ...extra,
  });
}
const emuFetch = (url: string, init?: RequestInit) => w.emu.fetch(url, init);

async function codeFor(extra: Record<string, unknown> = {}): Promise<string> {
  const res = await w.control('oauth/codes', { redirect_uri: REDIRECT_URI, ...extra });
  return res.code as string;
}

describe('the seed flow: dialog → code → short-lived → long-lived → inspect', () => {
  it('logs in through the consent page with state and PKCE, and ends with an inspected long-lived token', async () => {
    const f = flow();
    const started = await f.start({ tenantId: 'acme' });
    const dialog = new URL(started.url);
    expect(dialog.searchParams.get('code_challenge_method')).toBe('S256');
    const callback = await consent(emuFetch, started.url);
    expect(callback.startsWith(REDIRECT_URI)).toBe(true);
    expect(new URL(callback).searchParams.get('state')).toBe(started.state);

    const result = await f.complete(callback);
    expect(result.exchanged).toBe(true);
    expect(result.kind).toBe('user-long');
    expect(result.tenantId).toBe('acme');
    expect(result.codeToken.expiresInSec).toBe(7200);
    expect(result.inspection).toMatchObject({ kind: 'user', isValid: true, appId: w.appId });
    expect(result.inspection.scopes).toEqual(expect.arrayContaining(SCOPES));
    // ~60 days, measured on the emulator's virtual clock.
    const days = ((result.expiresAtMs ?? 0) - w.emu.clock.now()) / 86_400_000;
    expect(days).toBeGreaterThan(59);
    expect(days).toBeLessThanOrEqual(60);
    expect(result.inspection.dataAccessExpiresAtMs).not.toBeNull();
    expect(sharedWabaIds(result.inspection)).toContain(w.emu.seed?.wabaId);
    expect(result.token.equals(result.codeToken.accessToken)).toBe(false);
    expect(w.count('GET /oauth/access_token grant_type=authorization_code')).toBe(1);
    expect(w.count('GET /oauth/access_token grant_type=fb_exchange_token')).toBe(1);

    // The long-lived token sends a message.
    const res = await w.emu.fetch(`${IN_PROCESS_URL}/v26.0/${w.emu.seed?.phoneNumberId}/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${result.token.reveal()}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        messaging_product: 'whatsapp',
        to: w.emu.seed?.recipient,
        type: 'text',
        text: { body: 'hi' },
      }),
    });
    expect(res.status).toBe(200);
    expectNoSecrets(JSON.stringify(result), [result.token.reveal(), w.appSecret], 'the login result');
  });

  it('keeps the short-lived token when asked not to exchange, and can skip PKCE', async () => {
    const f = flow({ exchangeForLongLived: false, pkce: false });
    const started = await f.start();
    expect(new URL(started.url).searchParams.has('code_challenge')).toBe(false);
    const result = await f.complete(await consent(emuFetch, started.url));
    expect(result.exchanged).toBe(false);
    expect(result.kind).toBe('user-short');
  });
});

describe('the seed flow over loopback (real sockets, undici)', () => {
  it('dialog → code → short → long → inspect against a listening emulator', async () => {
    const started = await startEmulator({ seed: { redirectUris: [REDIRECT_URI] } });
    const seed = started.emulator.seed!;
    const auth = createAuthClient({ appId: seed.appId, appSecret: seed.appSecret, graphUrl: started.url });
    try {
      const f = createLoginFlow({ auth, redirectUri: REDIRECT_URI, scopes: SCOPES, dialogUrl: started.url });
      const login = await f.start();
      const result = await f.complete(await consent((u, init) => fetch(u, init), login.url));
      expect(result).toMatchObject({ exchanged: true, kind: 'user-long' });
      expect(result.inspection.isValid).toBe(true);
      expect(started.emulator.counters()['GET /oauth/access_token grant_type=fb_exchange_token']).toBe(1);
    } finally {
      await auth.close();
      await started.close();
    }
  });
});

describe('bad input at the callback: typed errors, nothing exchanged', () => {
  it('denied consent → OAuthDeniedError, and the state is spent', async () => {
    const f = flow();
    const started = await f.start();
    const callback = await consent(emuFetch, started.url, 'cancel');
    const err = await f.complete(callback).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthDeniedError);
    expect(err).toMatchObject({ reason: 'access-denied', errorReason: 'user_denied', code: 'OAUTH' });
    expect((err as Error).message).toMatch(/declined/);
    await expect(f.complete(callback)).rejects.toMatchObject({ reason: 'state-replayed' });
    expect(w.count('GET /oauth/access_token grant_type=authorization_code')).toBe(0);
  });

  it('forged, missing, replayed and expired states are refused before any exchange', async () => {
    const f = flow();
    const started = await f.start();
    const callback = await consent(emuFetch, started.url);
    const code = new URL(callback).searchParams.get('code') as string;
    await expect(f.complete({ code, state: 'forged-state-value-forged-state-value' })).rejects.toMatchObject({
      name: 'OAuthStateError',
      reason: 'state-unknown',
    });
    await expect(f.complete({ code })).rejects.toMatchObject({ reason: 'state-missing' });
    expect(w.count('GET /oauth/access_token grant_type=authorization_code')).toBe(0);
    await f.complete(callback);
    const replay = await f.complete(callback).catch((e: unknown) => e);
    expect(replay).toBeInstanceOf(OAuthStateError);
    expect((replay as OAuthError).reason).toBe('state-replayed');
    expect(w.count('GET /oauth/access_token grant_type=authorization_code')).toBe(1);

    const late = await f.start();
    const lateCallback = await consent(emuFetch, late.url);
    await w.emu.clock.advance(11 * 60_000);
    await expect(f.complete(lateCallback)).rejects.toMatchObject({ reason: 'state-expired' });
  });

  it('a bound state completes only with its binding: another or no binding fails like a forged state, unspent', async () => {
    const f = flow();
    const started = await f.start({ tenantId: 'acme', binding: 'session-a' });
    const callback = await consent(emuFetch, started.url);
    for (const other of [{ binding: 'session-b' }, {}])
      await expect(f.complete(callback, other)).rejects.toMatchObject({ reason: 'state-unknown' });
    expect(w.count('GET /oauth/access_token grant_type=authorization_code')).toBe(0);
    const result = await f.complete(callback, { binding: 'session-a' });
    expect(result.tenantId).toBe('acme');
    await expect(f.complete(callback, { binding: 'session-a' })).rejects.toMatchObject({
      reason: 'state-replayed',
    });
  });

  it('other dialog errors and a callback without a code are typed', async () => {
    const f = flow();
    const a = await f.start();
    await expect(
      f.complete({ state: a.state, error: 'server_error', error_description: 'oops' }),
    ).rejects.toMatchObject({
      name: 'OAuthCallbackError',
      reason: 'callback-error',
    });
    const b = await f.start();
    await expect(f.complete({ state: b.state })).rejects.toMatchObject({ reason: 'callback-error' });
  });
});

describe('bad input at the code exchange (Graph errors → typed OAuth errors)', () => {
  it('a reused code', async () => {
    const code = await codeFor();
    await w.auth.exchangeCode({ code, redirectUri: REDIRECT_URI });
    const err = await w.auth.exchangeCode({ code, redirectUri: REDIRECT_URI }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthorizationCodeError);
    expect(err).toMatchObject({ reason: 'code-used', graphCode: 100, graphSubcode: 36009 });
    expect((err as Error).message).not.toContain(code);
  });

  it('an expired code', async () => {
    const code = await codeFor();
    await w.emu.clock.advance(11 * 60_000);
    await expect(w.auth.exchangeCode({ code, redirectUri: REDIRECT_URI })).rejects.toMatchObject({
      reason: 'code-expired',
      graphSubcode: 36007,
    });
  });

  it('a mismatched redirect URI', async () => {
    const code = await codeFor();
    await expect(
      w.auth.exchangeCode({ code, redirectUri: 'https://app.example/other' }),
    ).rejects.toMatchObject({ reason: 'redirect-mismatch', graphSubcode: 36008 });
    await expect(w.auth.exchangeCode({ code })).rejects.toMatchObject({ reason: 'redirect-mismatch' });
  });

  it('a missing or wrong PKCE verifier', async () => {
    const verifier = 'v'.repeat(43);
    const code = await codeFor({ code_challenge: pkceChallenge(verifier), code_challenge_method: 'S256' });
    await expect(w.auth.exchangeCode({ code, redirectUri: REDIRECT_URI })).rejects.toMatchObject({
      reason: 'verifier-mismatch',
    });
    await expect(
      w.auth.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier: 'w'.repeat(43) }),
    ).rejects.toMatchObject({ reason: 'verifier-mismatch' });
    const ok = await w.auth.exchangeCode({ code, redirectUri: REDIRECT_URI, codeVerifier: verifier });
    expect(ok.accessToken.length).toBeGreaterThan(20);
  });

  it('a wrong app secret', async () => {
    const bad = createAuthClient({
      appId: w.appId,
      appSecret: 'not-the-secret',
      transport: w.transport,
      graphUrl: IN_PROCESS_URL,
    });
    await expect(
      bad.exchangeCode({ code: await codeFor(), redirectUri: REDIRECT_URI }),
    ).rejects.toMatchObject({
      name: 'AppCredentialsError',
      reason: 'app-credentials',
    });
  });

  it('Graph down in the middle of the login (after the code exchange): OAuthUnavailableError, typed and clear', async () => {
    // The code exchange goes through; the connection drops on the long-lived exchange.
    const dropping: Transport = {
      async request(req) {
        if (req.url.includes('fb_exchange_token')) throw new TransportError('reset', 'socket hang up');
        return w.transport.request(req);
      },
      close: async () => {},
    };
    const auth = createAuthClient({
      appId: w.appId,
      appSecret: w.appSecret,
      transport: dropping,
      graphUrl: IN_PROCESS_URL,
      clock: w.emu.clock,
    });
    const f = createLoginFlow({ auth, redirectUri: REDIRECT_URI, scopes: SCOPES, dialogUrl: IN_PROCESS_URL });
    const started = await f.start();
    const err = await f.complete(await consent(emuFetch, started.url)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthUnavailableError);
    expect((err as Error).message).toMatch(/long-lived token exchange.*nothing was stored/);
    expect(w.count('GET /oauth/access_token grant_type=authorization_code')).toBe(1);
    expect(w.count('GET /oauth/access_token grant_type=fb_exchange_token')).toBe(0);

    // Graph answering 503 on every token call: the same typed error from the first step.
    w.emu.injectFault({ kind: 'status', status: 503, path: '*oauth/access_token*' });
    const f2 = flow();
    const s2 = await f2.start();
    await expect(f2.complete(await consent(emuFetch, s2.url))).rejects.toBeInstanceOf(OAuthUnavailableError);
  });
});

describe('exchanges of bad tokens', () => {
  it('an expired token sent for exchange', async () => {
    const temp = w.emu.seed?.accessToken as string;
    await w.emu.clock.advance(25 * 3_600_000);
    const err = await w.auth.exchangeForLongLived(temp).catch((e: unknown) => e);
    expect(err).toMatchObject({
      name: 'TokenExchangeError',
      reason: 'token-expired',
      graphCode: 190,
      graphSubcode: 463,
    });
    expect((err as Error).message).not.toContain(temp);
  });

  it('a token of another app: refused by the exchange, by inspection and by the manager, nothing stored', async () => {
    const other = (await w.control('apps', { name: 'Other' })) as { id: string };
    const foreign = await w.mint('user', { app_id: other.id });
    await expect(w.auth.exchangeForLongLived(foreign)).rejects.toMatchObject({ reason: 'wrong-app' });
    await expect(w.auth.inspect(foreign)).rejects.toMatchObject({ reason: 'wrong-app' });
    const store = new MemoryCredentialStore();
    const manager = createTokenManager({ auth: w.auth, store, clock: w.emu.clock });
    await expect(manager.addCredential({ tenantId: 't', token: foreign })).rejects.toBeInstanceOf(OAuthError);
    expect(await store.list()).toEqual([]);
  });

  it('app tokens: client_credentials and the derived app_id|secret both inspect as APP', async () => {
    const fromGraph = await w.auth.getAppToken();
    expect(fromGraph.reveal().startsWith(`${w.appId}|`)).toBe(true);
    expect(String(fromGraph)).not.toContain(w.appId);
    expect((await w.auth.inspect(fromGraph)).kind).toBe('app');
    expect((await w.auth.inspect(w.auth.appToken)).kind).toBe('app');
  });
});

describe('system users and Embedded Signup', () => {
  it('creates a 60-day system-user token, refreshes it, and revokes it', async () => {
    const seed = w.emu.seed!;
    const admin = await w.mint('system_user');
    const created = await w.auth.createSystemUserToken({
      systemUserId: seed.systemUserId,
      scopes: SCOPES,
      callerToken: admin,
      expiresIn60Days: true,
    });
    const info = await w.auth.inspect(created.accessToken);
    expect(info.kind).toBe('system-user');
    expect(((info.expiresAtMs ?? 0) - w.emu.clock.now()) / 86_400_000).toBeCloseTo(60, 0);

    await w.emu.clock.advance(50 * 86_400_000);
    const refreshed = await w.auth.refreshSystemUserToken(created.accessToken);
    expect(refreshed.accessToken.equals(created.accessToken)).toBe(false);
    expect(refreshed.expiresInSec).toBe(60 * 86_400);

    await w.auth.revoke(refreshed.accessToken);
    const after = await w.auth.inspect(refreshed.accessToken);
    expect(after.isValid).toBe(false);
    expect(after.error?.subcode).toBe(467);
    // The old one still works until its own expiry (facts §6.4).
    expect((await w.auth.inspect(created.accessToken)).isValid).toBe(true);
    // A non-expiring token needs no refresh: Graph hands the same one back.
    const never = await w.auth.createSystemUserToken({
      systemUserId: seed.systemUserId,
      scopes: SCOPES,
      callerToken: admin,
    });
    expect((await w.auth.inspect(never.accessToken)).expiresAtMs).toBeNull();
  });

  it('runs the Embedded Signup server steps: exchange, shared WABAs, numbers, subscribe, register', async () => {
    const config = (await w.control(`apps/${w.appId}/configs`, {
      token_type: 'system_user',
      expiry: 'never',
    })) as {
      id: string;
    };
    const { code } = (await w.control('oauth/codes', { config_id: config.id })) as { code: string };
    const result = await completeEmbeddedSignup({ auth: w.auth, code, pin: '123456' });
    expect(result.kind).toBe('business-integration');
    expect(result.complete).toBe(true);
    const waba = result.wabas.find((x) => x.id === w.emu.seed?.wabaId);
    expect(waba?.subscribed?.ok).toBe(true);
    expect(waba?.phoneNumbers.map((n) => n.id)).toContain(w.emu.seed?.phoneNumberId);
    expect(waba?.phoneNumbers.every((n) => n.registered?.ok)).toBe(true);
    expect(w.count('POST /{waba-id}/subscribed_apps')).toBeGreaterThanOrEqual(1);

    // The code lived 30 seconds and was single use.
    await expect(completeEmbeddedSignup({ auth: w.auth, code })).rejects.toMatchObject({
      reason: 'code-used',
    });
    const { code: late } = (await w.control('oauth/codes', { config_id: config.id })) as { code: string };
    await w.emu.clock.advance(31_000);
    await expect(completeEmbeddedSignup({ auth: w.auth, code: late })).rejects.toMatchObject({
      reason: 'code-expired',
    });
  });
});
