// facebook.com appends `#_=_` to the login dialog's redirects (graph-api-facts.md §1.2, captured, UNVERIFIED as
// documented). The emulator reproduces it by default, configurable; our client reads such callbacks unchanged.
import { afterEach, describe, expect, it } from 'vitest';
import { parseLoginCallback } from '../../src/auth/login-dialog.js';
import { createEmulator, type Emulator, type EmulatorOptions } from '../../src/emulator/index.js';

const REDIRECT = 'https://app.example/auth/callback';
let emu: Emulator;
afterEach(async () => {
  await emu?.close();
});

/** Opens the dialog and presses a button; returns the redirect's Location. */
async function decide(
  options: EmulatorOptions,
  decision: 'continue' | 'cancel',
  query: Record<string, string> = {},
  redirect = REDIRECT,
): Promise<string> {
  emu = createEmulator({ ...options, seed: { redirectUris: [redirect] } });
  const q = new URLSearchParams({
    client_id: emu.seed!.appId,
    redirect_uri: redirect,
    state: 's1',
    ...query,
  });
  const html = await (await emu.fetch(`http://emulator/v25.0/dialog/oauth?${q}`)).text();
  const requestId = /name="request_id" value="([^"]+)"/.exec(html)?.[1] as string;
  const res = await emu.fetch('http://emulator/v25.0/dialog/oauth/decision', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ request_id: requestId, decision }).toString(),
    redirect: 'manual',
  });
  expect(res.status).toBe(302);
  return res.headers.get('location') as string;
}

describe('login redirects: the #_=_ fragment, granted_scopes', () => {
  it('code and cancel redirects end in #_=_ by default, and parseLoginCallback reads them', async () => {
    const ok = await decide({}, 'continue');
    expect(ok).toMatch(/^https:\/\/app\.example\/auth\/callback\?code=AQ[A-Za-z0-9]+&state=s1#_=_$/);
    const params = parseLoginCallback(ok);
    expect(params.state).toBe('s1');
    expect(params.code).toBe(new URL(ok).searchParams.get('code'));
    // The code works as is: the fragment is not part of it.
    const seed = emu.seed!;
    const exchanged = await emu.fetch(
      `http://emulator/v25.0/oauth/access_token?${new URLSearchParams({ client_id: seed.appId, client_secret: seed.appSecret, redirect_uri: REDIRECT, code: params.code as string })}`,
    );
    expect(exchanged.status).toBe(200);
    await emu.close();

    const cancel = await decide({}, 'cancel');
    expect(cancel.endsWith('&state=s1#_=_')).toBe(true);
    expect(parseLoginCallback(cancel)).toMatchObject({
      error: 'access_denied',
      errorReason: 'user_denied',
      errorCode: '200',
      state: 's1',
    });
  });

  it('configurable: off, or another fragment; never replaces a fragment of the token flow or of the URI', async () => {
    expect(await decide({ loginRedirectFragment: false }, 'continue')).not.toContain('#');
    await emu.close();
    expect(await decide({ loginRedirectFragment: '#done' }, 'cancel')).toMatch(/&state=s1#done$/);
    await emu.close();
    // response_type=token: the parameters are the fragment; no `_=_` is mixed into it.
    const token = await decide({}, 'continue', { response_type: 'token' });
    const fragment = new URLSearchParams(token.split('#')[1]);
    expect(fragment.get('access_token')).toMatch(/^EAA/);
    expect(fragment.has('_')).toBe(false);
    await emu.close();
    // A registered URI with its own fragment keeps it (the parameters go before it).
    const own = await decide({}, 'continue', {}, `${REDIRECT}#section`);
    expect(own).toMatch(/\?code=[^#]+&state=s1#section$/);
  });

  it('response_type=code granted_scopes (our LoginFlow option) returns the granted permissions', async () => {
    const loc = await decide({}, 'continue', {
      response_type: 'code granted_scopes',
      scope: 'whatsapp_business_management,whatsapp_business_messaging',
    });
    const params = parseLoginCallback(loc);
    expect(params.code).toMatch(/^AQ/);
    expect(params.grantedScopes).toEqual([
      'public_profile',
      'whatsapp_business_management',
      'whatsapp_business_messaging',
    ]);
    expect(loc.endsWith('#_=_')).toBe(true);
    await emu.close();
    emu = createEmulator({ seed: { redirectUris: [REDIRECT] } });
    const page = await emu.fetch(
      `http://emulator/v25.0/dialog/oauth?${new URLSearchParams({ client_id: emu.seed!.appId, redirect_uri: REDIRECT, response_type: 'code token' })}`,
    );
    expect(page.status).toBe(400);
    expect(await page.text()).toContain('Unsupported response_type');
  });
});
