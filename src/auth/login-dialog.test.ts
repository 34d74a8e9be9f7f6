import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildLoginDialogUrl, checkRedirectUri, parseLoginCallback } from './login-dialog.js';
import { OAuthError } from './oauth-errors.js';
import { MemoryOAuthStateStore } from './oauth-state-store.js';
import { createOAuthState, createPkcePair, hashOAuthState, pkceChallenge } from './pkce.js';

const base = {
  appId: '1234567890',
  redirectUri: 'https://example.com/auth/callback?x=1',
  state: 'a'.repeat(43),
};

describe('buildLoginDialogUrl', () => {
  it('builds the manual-flow URL with every parameter Meta documents', () => {
    const { codeChallenge } = createPkcePair();
    const url = new URL(
      buildLoginDialogUrl({
        ...base,
        scopes: ['whatsapp_business_management', 'whatsapp_business_messaging'],
        rerequest: true,
        codeChallenge,
        apiVersion: 'v25.0',
      }),
    );
    expect(url.origin).toBe('https://www.facebook.com');
    expect(url.pathname).toBe('/v25.0/dialog/oauth');
    const q = url.searchParams;
    expect(q.get('client_id')).toBe('1234567890');
    // The redirect URI survives exactly, its own query included (Strict Mode compares the whole URI).
    expect(q.get('redirect_uri')).toBe(base.redirectUri);
    expect(q.get('state')).toBe(base.state);
    expect(q.get('response_type')).toBe('code');
    expect(q.get('scope')).toBe('whatsapp_business_management,whatsapp_business_messaging');
    expect(q.get('auth_type')).toBe('rerequest');
    expect(q.get('code_challenge')).toBe(codeChallenge);
    expect(q.get('code_challenge_method')).toBe('S256');
    expect(q.has('config_id')).toBe(false);
  });

  it('uses config_id for Login for Business, without scopes, and honours dialogUrl', () => {
    const url = new URL(
      buildLoginDialogUrl({
        ...base,
        configId: '987654321',
        overrideDefaultResponseType: true,
        dialogUrl: 'http://127.0.0.1:4010/',
      }),
    );
    expect(url.origin).toBe('http://127.0.0.1:4010');
    expect(url.pathname).toBe('/v26.0/dialog/oauth');
    expect(url.searchParams.get('config_id')).toBe('987654321');
    expect(url.searchParams.get('override_default_response_type')).toBe('true');
    expect(url.searchParams.has('scope')).toBe(false);
    expect(url.searchParams.has('auth_type')).toBe(false);
  });

  it.each([
    [{ appId: 'abc' }, /numeric Meta app id/],
    [{ redirectUri: 'http://example.com/cb' }, /https/],
    [{ redirectUri: 'https://example.com/cb#frag' }, /fragment/],
    [{ redirectUri: '/relative' }, /absolute/],
    [{ state: 'short' }, /unguessable/],
    [{ scopes: [] }, /scopes, or a Login for Business configId/],
    [{ scopes: ['bad scope'] }, /not a permission/],
    [{ configId: 'x1' }, /numeric configuration id/],
    [{ apiVersion: '26' }, /is not like/],
    [{ dialogUrl: 'http://facebook.com' }, /loopback/],
  ])('refuses bad input %j', (patch, message) => {
    expect(() => buildLoginDialogUrl({ ...base, scopes: ['email'], ...patch })).toThrow(message);
  });

  it('allows plain http redirect URIs only on loopback', () => {
    expect(checkRedirectUri('http://127.0.0.1:5555/callback')).toBe('http://127.0.0.1:5555/callback');
    expect(checkRedirectUri('http://localhost:5555/callback')).toBe('http://localhost:5555/callback');
    expect(() => checkRedirectUri('http://10.0.0.1/callback')).toThrow(OAuthError);
  });
});

describe('PKCE and state', () => {
  it('makes RFC 7636 S256 pairs', () => {
    const pair = createPkcePair();
    const verifier = pair.codeVerifier.reveal();
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(pair.codeChallenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(pair.codeChallenge).not.toContain('=');
    expect(pair.codeChallengeMethod).toBe('S256');
    // The verifier is a Secret: printing it never shows it.
    expect(String(pair.codeVerifier)).not.toContain(verifier);
  });

  it('derives the challenge from the verifier alone (a string or a Secret)', () => {
    const pair = createPkcePair();
    expect(pkceChallenge(pair.codeVerifier)).toBe(pair.codeChallenge);
    expect(pkceChallenge(pair.codeVerifier.reveal())).toBe(pair.codeChallenge);
    expect(createPkcePair().codeChallenge).not.toBe(pair.codeChallenge);
  });

  it('makes distinct 256-bit states and hashes them', () => {
    const states = new Set(Array.from({ length: 200 }, () => createOAuthState()));
    expect(states.size).toBe(200);
    for (const s of states) expect(s).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const one = [...states][0] as string;
    expect(hashOAuthState(one)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOAuthState(one)).not.toContain(one);
  });
});

describe('MemoryOAuthStateStore', () => {
  const record = (hash: string, now: number) => ({
    stateHash: hash,
    redirectUri: 'https://example.com/cb',
    codeVerifier: undefined,
    scopes: ['email'],
    configId: undefined,
    tenantId: 't1',
    createdAtMs: now,
    expiresAtMs: now + 600_000,
  });

  it('is single use: ok, then used; unknown for forged; expired after its TTL', async () => {
    const store = new MemoryOAuthStateStore();
    await store.save(record('h1', 0));
    await store.save(record('h2', 0));
    expect((await store.consume('h1', 1000)).status).toBe('ok');
    expect((await store.consume('h1', 1001)).status).toBe('used');
    expect((await store.consume('forged', 1002)).status).toBe('unknown');
    expect((await store.consume('h2', 600_000)).status).toBe('expired');
    expect(store.pending(0)).toBe(0);
  });

  it('gives exactly one ok to concurrent consumers', async () => {
    const store = new MemoryOAuthStateStore();
    await store.save(record('h', 0));
    const results = await Promise.all(Array.from({ length: 20 }, () => store.consume('h', 10)));
    expect(results.filter((r) => r.status === 'ok')).toHaveLength(1);
  });
});

describe('parseLoginCallback', () => {
  it('reads code and state and ignores the #_=_ fragment', () => {
    const p = parseLoginCallback('https://example.com/cb?code=AQD123&state=xyz#_=_');
    expect(p.code).toBe('AQD123');
    expect(p.state).toBe('xyz');
    expect(p.error).toBeUndefined();
  });

  it("reads Meta's cancel redirect (graph-api-facts.md §1.2)", () => {
    const p = parseLoginCallback(
      '/cb?error=access_denied&error_code=200&error_description=Permissions+error&error_reason=user_denied&state=s#_=_',
    );
    expect(p).toMatchObject({
      error: 'access_denied',
      errorCode: '200',
      errorDescription: 'Permissions error',
      errorReason: 'user_denied',
      state: 's',
      code: undefined,
    });
  });

  it('accepts URL, URLSearchParams, a bare query and a plain object', () => {
    expect(parseLoginCallback(new URL('https://x.test/cb?code=c1&state=s1')).code).toBe('c1');
    expect(parseLoginCallback(new URLSearchParams('code=c2&state=s2')).code).toBe('c2');
    expect(parseLoginCallback('code=c3&state=s3').code).toBe('c3');
    expect(parseLoginCallback({ code: 'c4', state: 's4' }).state).toBe('s4');
    expect(parseLoginCallback('code=&state=').code).toBeUndefined();
    expect(parseLoginCallback('code=c&granted_scopes=email,public_profile').grantedScopes).toEqual([
      'email',
      'public_profile',
    ]);
  });
});
