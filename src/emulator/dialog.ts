import type { Hono } from 'hono';
import {
  type DialogRequest,
  type EmuContext,
  type EmuEnv,
  type EmulatorCore,
  requestParams,
} from './context.js';
import { authCode, base62 } from './ids.js';
import type { AppRecord, OAuthCodeRecord } from './state.js';

/**
 * The Facebook Login dialog (facts §1.1-§1.2): `GET /{v}/dialog/oauth` renders a consent page that works without
 * JavaScript; its form posts the choice back, and the emulator redirects like facebook.com does.
 */

const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );

const PAGE_STYLE = `body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;background:#f0f2f5;margin:0;color:#1c1e21}
main{max-width:420px;margin:48px auto;background:#fff;border-radius:8px;box-shadow:0 2px 8px rgba(0,0,0,.15);padding:24px}
h1{font-size:20px;margin:0 0 8px}p{color:#606770;font-size:15px}ul{padding-left:20px}li{margin:4px 0}
.buttons{display:flex;gap:12px;margin-top:20px}button{flex:1;font-size:16px;padding:10px;border-radius:6px;border:0;cursor:pointer}
button[value=continue]{background:#1877f2;color:#fff}button[value=cancel]{background:#e4e6eb;color:#050505}
.note{font-size:12px;color:#8a8d91;margin-top:16px}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${escapeHtml(title)}</title><style>${PAGE_STYLE}</style></head>
<body><main>${body}</main></body></html>`;
}

function errorPage(c: EmuContext, title: string, message: string) {
  return c.html(page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`), 400);
}

/**
 * Appends query parameters to a redirect URI that may already have some. `fragment` puts them in the fragment
 * instead (response_type=token); otherwise `appendFragment` (facebook.com's `_=_`) is added when the URI has none.
 */
function withParams(
  uri: string,
  params: Array<[string, string]>,
  fragment = false,
  appendFragment?: string,
): string {
  const qs = new URLSearchParams(params).toString();
  if (fragment) return `${uri.split('#')[0]}#${qs}`;
  const [base, hash] = uri.split('#', 2) as [string, string | undefined];
  const tail = hash !== undefined ? `#${hash}` : appendFragment ? `#${appendFragment}` : '';
  return `${base}${base.includes('?') ? '&' : '?'}${qs}${tail}`;
}

const SCOPE_LABELS: Record<string, string> = {
  public_profile: 'Your name and profile picture',
  email: 'Your email address',
  business_management: 'Manage your business',
  whatsapp_business_management: 'Manage your WhatsApp accounts',
  whatsapp_business_messaging: 'Send and receive WhatsApp messages',
};

export function registerDialogRoutes(app: Hono<EmuEnv>, core: EmulatorCore, prefix: string): void {
  const s = core.state;

  app.get(`${prefix}/dialog/oauth`, async (c) => {
    c.set('endpoint', 'GET /dialog/oauth');
    const q = await requestParams(c, core.settings.maxBodyBytes);
    const a: AppRecord | undefined = q.client_id ? s.apps.get(q.client_id) : undefined;
    if (!a || a.removed) {
      return errorPage(c, 'Invalid App ID', 'The provided app ID does not look like a valid app ID.');
    }
    const redirectUri = q.redirect_uri;
    if (!redirectUri) {
      return errorPage(c, "Can't Load URL", 'The redirect_uri parameter is missing from the login request.');
    }
    // Strict Mode: the full URI must match a Valid OAuth Redirect URI exactly; the state parameter is not part of it.
    if (!a.redirectUris.includes(redirectUri)) {
      return errorPage(
        c,
        'URL blocked',
        "This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings. Make sure Client and Web OAuth Login are on and add all your app domains as Valid OAuth Redirect URIs.",
      );
    }
    // `code` or `token`, optionally with `granted_scopes` (facts §1.1: the granted permissions come back too).
    const words = new Set((q.response_type ?? 'code').split(/[\s,+]+/).filter(Boolean));
    const grantedScopes = words.delete('granted_scopes');
    const responseType = [...words].join(' ');
    if (responseType !== 'code' && responseType !== 'token') {
      return errorPage(
        c,
        'Unsupported response_type',
        `The emulator supports response_type=code and token (each optionally with granted_scopes), not "${q.response_type}".`,
      );
    }
    let scopes = (q.scope ?? '')
      .split(/[\s,]+/)
      .map((x) => x.trim())
      .filter(Boolean);
    let configId: string | undefined;
    if (q.config_id) {
      const config = a.configs[q.config_id];
      if (!config)
        return errorPage(
          c,
          'Invalid configuration',
          `Configuration ${q.config_id} does not exist for this app.`,
        );
      configId = config.id;
      if (scopes.length === 0) scopes = [...config.scopes];
    }
    if (!scopes.includes('public_profile') && !configId) scopes.unshift('public_profile');
    // The JS SDK's FB.login(cb, {config_id, extras: {setup: {}}}) sends `extras` as JSON: that is Embedded Signup.
    let embeddedSignup = false;
    if (q.extras) {
      let extras: unknown;
      try {
        extras = JSON.parse(q.extras);
      } catch {
        return errorPage(c, 'Invalid extras', 'The extras parameter must be a JSON object.');
      }
      embeddedSignup = typeof extras === 'object' && extras !== null && 'setup' in extras;
    }
    if (embeddedSignup && (!configId || responseType !== 'code')) {
      return errorPage(
        c,
        'Invalid Embedded Signup request',
        'Embedded Signup needs a config_id (a Login for Business configuration) and response_type=code.',
      );
    }
    let challengeMethod: 'S256' | 'plain' | undefined;
    if (q.code_challenge) {
      const m = q.code_challenge_method ?? 'plain';
      if (m !== 'S256' && m !== 'plain') {
        return errorPage(c, 'Invalid code_challenge_method', 'code_challenge_method must be S256 or plain.');
      }
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(q.code_challenge)) {
        return errorPage(
          c,
          'Invalid code_challenge',
          'code_challenge must be 43-128 characters of A-Z a-z 0-9 - . _ ~',
        );
      }
      challengeMethod = m;
    }
    const userId = core.dialogUserId ?? s.seed?.userId ?? s.users.keys().next().value;
    const user = userId ? s.users.get(userId) : undefined;
    if (!user)
      return errorPage(c, 'Not logged in', 'No emulated user is signed in: create one with the control API.');
    const request: DialogRequest = {
      id: base62(24),
      appId: a.id,
      userId: user.id,
      redirectUri,
      state: q.state,
      scopes,
      responseType,
      grantedScopes,
      codeChallenge: q.code_challenge,
      codeChallengeMethod: challengeMethod,
      configId,
      embeddedSignup,
      expiresAtMs: core.clock.now() + 3_600_000,
    };
    if (core.dialogs.size > 10_000) core.dialogs.clear();
    core.dialogs.set(request.id, request);
    const wabas = user.wabaIds.map((w) => s.wabas.get(w)).filter((w) => w !== undefined);
    if (embeddedSignup && wabas.length === 0)
      return errorPage(
        c,
        'No WhatsApp Business Account',
        'The emulated user has no WhatsApp Business Account to share: create one with the control API.',
      );
    const scopeItems = scopes
      .map((sc) => `<li>${escapeHtml(SCOPE_LABELS[sc] ?? sc)} <small>(${escapeHtml(sc)})</small></li>`)
      .join('');
    // Embedded Signup shares one WABA (and its number), picked here; a plain login lists what it grants.
    const assetItems = embeddedSignup
      ? `<p><label>WhatsApp Business Account to share with ${escapeHtml(a.name)}<br><select name="waba_id" form="decision">${wabas.map((w) => `<option value="${escapeHtml(w.id)}">${escapeHtml(w.name)} (${escapeHtml(w.id)})</option>`).join('')}</select></label></p>`
      : wabas.length
        ? `<p>WhatsApp Business Accounts shared with ${escapeHtml(a.name)}:</p><ul>${wabas.map((w) => `<li>${escapeHtml(w.name)} <small>(${escapeHtml(w.id)})</small></li>`).join('')}</ul>`
        : '';
    const config = configId ? a.configs[configId] : undefined;
    const configNote = config
      ? `<p id="config">Login for Business configuration ${escapeHtml(config.id)}${embeddedSignup ? ' (Embedded Signup)' : ''}: ${escapeHtml(a.name)} receives ${config.tokenType === 'system_user' ? `a business integration system user token (${config.expiry === '60d' ? 'expires in 60 days' : 'never expires'})` : 'a user access token'}.</p>`
      : '';
    const action = `${c.req.path.replace(/\/dialog\/oauth\/?$/, '')}/dialog/oauth/decision`;
    return c.html(
      page(
        `Log in with Facebook | ${a.name}`,
        `<h1>${escapeHtml(a.name)} is requesting access</h1>
<p>Continue as <strong>${escapeHtml(user.name)}</strong>. ${escapeHtml(a.name)} will receive:</p>
<ul id="scopes">${scopeItems}</ul>
${configNote}
${assetItems}
<form method="post" action="${escapeHtml(action)}" id="decision">
<input type="hidden" name="request_id" value="${request.id}">
<div class="buttons"><button type="submit" name="decision" value="cancel">Cancel</button>
<button type="submit" name="decision" value="continue">Continue as ${escapeHtml(user.name)}</button></div>
</form>
<p class="note">wacloud emulator: a local stand-in for the Facebook Login dialog.</p>`,
      ),
    );
  });

  app.post(`${prefix}/dialog/oauth/decision`, async (c) => {
    c.set('endpoint', 'POST /dialog/oauth/decision');
    const form = await requestParams(c, core.settings.maxBodyBytes);
    const request = form.request_id ? core.dialogs.get(form.request_id) : undefined;
    if (!request || core.clock.now() > request.expiresAtMs) {
      return errorPage(c, 'This login has expired', 'Start the login again from the app.');
    }
    core.dialogs.delete(request.id);
    const stateParam: Array<[string, string]> = request.state !== undefined ? [['state', request.state]] : [];
    if (form.decision !== 'continue') {
      // Canceled login (facts §1.2): these four parameters plus state.
      return c.redirect(
        withParams(
          request.redirectUri,
          [
            ['error', 'access_denied'],
            ['error_reason', 'user_denied'],
            ['error_description', 'Permissions error.'],
            ['error_code', '200'],
            ...stateParam,
          ],
          false,
          core.settings.loginRedirectFragment,
        ),
        302,
      );
    }
    const user = s.users.get(request.userId);
    const wantsWhatsApp = request.scopes.some(
      (x) => x.startsWith('whatsapp_') || x === 'business_management',
    );
    const targetIds = wantsWhatsApp && user ? [...user.wabaIds] : [];
    const granted: Array<[string, string]> = request.grantedScopes
      ? [['granted_scopes', request.scopes.join(',')]]
      : [];
    if (request.responseType === 'token') {
      const t = core.tokens.mint({
        kind: 'user',
        appId: request.appId,
        subjectId: request.userId,
        scopes: request.scopes,
        targetIds: targetIds.length ? targetIds : undefined,
        expiresInSec: core.tokens.ttl.shortLivedSec,
        dataAccessExpiresInSec: core.tokens.ttl.dataAccessSec,
        origin: 'login',
      });
      core.persist();
      return c.redirect(
        withParams(
          request.redirectUri,
          [
            ['access_token', t.value],
            ['data_access_expiration_time', String(Math.floor(t.dataAccessExpiresAtMs / 1000))],
            ['expires_in', String(core.tokens.ttl.shortLivedSec)],
            ...granted,
            ...stateParam,
          ],
          true,
        ),
        302,
      );
    }
    if (request.embeddedSignup) {
      // The JS SDK returns a code bound to no redirect URI (30 s) and posts the WA_EMBEDDED_SIGNUP FINISH session
      // info (facts §7); with no SDK to carry them, both come back on the redirect as query parameters.
      const shared = user?.wabaIds.includes(String(form.waba_id)) ? String(form.waba_id) : user?.wabaIds[0];
      const waba = shared ? s.wabas.get(shared) : undefined;
      if (!waba) return errorPage(c, 'No WhatsApp Business Account', 'Nothing to share: start again.');
      const phone = [...s.phoneNumbers.values()].find((p) => p.wabaId === waba.id);
      const code = issueCode(core, {
        appId: request.appId,
        userId: request.userId,
        redirectUri: undefined,
        scopes: request.scopes,
        targetIds: [waba.id],
        ttlSec: core.tokens.ttl.embeddedSignupCodeSec,
        configId: request.configId,
      });
      return c.redirect(
        withParams(
          request.redirectUri,
          [
            ['code', code.code],
            ...stateParam,
            ['waba_id', waba.id],
            ...(phone ? ([['phone_number_id', phone.id]] as Array<[string, string]>) : []),
            ['business_id', waba.businessId],
          ],
          false,
          core.settings.loginRedirectFragment,
        ),
        302,
      );
    }
    const code = issueCode(core, {
      appId: request.appId,
      userId: request.userId,
      redirectUri: request.redirectUri,
      scopes: request.scopes,
      targetIds,
      ttlSec: core.tokens.ttl.codeSec,
      codeChallenge: request.codeChallenge,
      codeChallengeMethod: request.codeChallengeMethod,
      configId: request.configId,
    });
    return c.redirect(
      withParams(
        request.redirectUri,
        [['code', code.code], ...granted, ...stateParam],
        false,
        core.settings.loginRedirectFragment,
      ),
      302,
    );
  });
}

/** Creates a single-use authorization code (the dialog's, or an Embedded Signup one from the control API). */
export function issueCode(
  core: EmulatorCore,
  o: {
    appId: string;
    userId: string;
    redirectUri: string | undefined;
    scopes: string[];
    targetIds: string[];
    ttlSec: number;
    codeChallenge?: string | undefined;
    codeChallengeMethod?: 'S256' | 'plain' | undefined;
    configId?: string | undefined;
  },
): OAuthCodeRecord {
  const now = core.clock.now();
  // Expired and used codes are dropped lazily so the map stays small.
  if (core.state.codes.size > 1_000) {
    for (const [k, v] of core.state.codes) if (v.used || v.expiresAtMs < now) core.state.codes.delete(k);
  }
  const rec: OAuthCodeRecord = {
    code: authCode(),
    appId: o.appId,
    userId: o.userId,
    redirectUri: o.redirectUri,
    scopes: o.scopes,
    targetIds: o.targetIds,
    expiresAtMs: now + o.ttlSec * 1000,
    used: false,
    codeChallenge: o.codeChallenge,
    codeChallengeMethod: o.codeChallengeMethod,
    configId: o.configId,
  };
  core.state.codes.set(rec.code, rec);
  core.state.touch();
  return rec;
}
