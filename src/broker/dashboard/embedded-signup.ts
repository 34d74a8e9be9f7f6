import { randomBytes } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { WacloudError } from '../../core/errors.js';
import { scrubText } from '../../core/secret.js';
import {
  type ConnectedAccount,
  connectEmbeddedSignup,
  type EmbeddedSignupSession,
  embeddedSignupFlowFor,
} from '../connect.js';
import type { BrokerContext } from '../context.js';
import type { Session } from '../security/session.js';
import { html, type SafeHtml } from './html.js';

/**
 * "Connect with Embedded Signup" (graph-api-facts.md §7). With a real app it is Meta's JS SDK snippet: `FB.login` with
 * the configuration, `response_type: 'code'`, `override_default_response_type: true`, `extras: { setup: {} }`; the
 * code from its callback and the `WA_EMBEDDED_SIGNUP` FINISH message's ids are posted to
 * `POST /tenants/{id}/embedded-signup` at once (the code lives 30 seconds). In the sandbox, with no SDK, the button
 * opens the emulator's dialog with the same parameters and a state; the emulator redirects the code and the session
 * info to `GET /connect/embedded-signup/callback`. Both end in {@link connectEmbeddedSignup}.
 */

/** The button (and, with a real app, the SDK snippet); `nonce` is set when the page runs the snippet. */
export function embeddedSignupFragment(
  ctx: BrokerContext,
  tenantId: string,
  csrfToken: string | undefined,
): { html: SafeHtml | ''; nonce: string | undefined } {
  const configId = ctx.embeddedSignupConfigId;
  if (!configId) return { html: '', nonce: undefined };
  if (ctx.sandbox) {
    return {
      html: html` <a class="button" href="/connect/embedded-signup/start?tenant=${tenantId}">Connect with Embedded Signup</a>`,
      nonce: undefined,
    };
  }
  const nonce = randomBytes(16).toString('base64');
  // appId, configId (numeric) and the API version (vNN.N) are validated settings: safe inside the script.
  return {
    nonce,
    html: html` <button type="button" id="wa-embedded-signup" disabled>Connect with Embedded Signup</button>
<form id="wa-embedded-signup-form" method="post" action="/tenants/${tenantId}/embedded-signup" hidden><input type="hidden" name="csrf" value="${csrfToken}"><input type="hidden" name="code"><input type="hidden" name="waba_id"><input type="hidden" name="phone_number_id"><input type="hidden" name="business_id"></form>
<script nonce="${nonce}">(function () {
  var form = document.getElementById('wa-embedded-signup-form');
  var button = document.getElementById('wa-embedded-signup');
  var sent = false;
  function submit() { if (!sent && form.code.value) { sent = true; form.submit(); } }
  window.addEventListener('message', function (event) {
    var host = '';
    try { host = new URL(event.origin).hostname; } catch (e) { return; }
    if (host !== 'facebook.com' && !/\\.facebook\\.com$/.test(host)) return;
    var data = event.data;
    if (typeof data === 'string') { try { data = JSON.parse(data); } catch (e) { return; } }
    if (!data || data.type !== 'WA_EMBEDDED_SIGNUP' || String(data.event).indexOf('FINISH') !== 0) return;
    var d = data.data || {};
    form.waba_id.value = d.waba_id || '';
    form.phone_number_id.value = d.phone_number_id || '';
    form.business_id.value = d.business_id || '';
    submit();
  });
  window.fbAsyncInit = function () {
    FB.init({ appId: '${ctx.appId}', autoLogAppEvents: true, xfbml: true, version: '${ctx.apiVersion}' });
    button.disabled = false;
  };
  button.addEventListener('click', function () {
    FB.login(function (response) {
      var code = response && response.authResponse && response.authResponse.code;
      if (!code) return;
      form.code.value = code;
      // The session info usually arrives first; do not let the 30-second code wait long for it.
      if (form.waba_id.value) submit(); else setTimeout(submit, 2000);
    }, { config_id: '${configId}', response_type: 'code', override_default_response_type: true, extras: { setup: {} } });
  });
})();</script>
<script async defer crossorigin="anonymous" nonce="${nonce}" src="https://connect.facebook.net/en_US/sdk.js"></script>`,
  };
}

/** The tenant page's CSP with the SDK snippet allowed: its nonce, Meta's SDK host, and the dialog's frames. */
export function embeddedSignupCsp(res: Response, nonce: string | undefined): Response {
  if (!nonce) return res;
  // A directive given twice counts once (the first): the page's own script-src is replaced, keeping its 'self'.
  const base = (res.headers.get('content-security-policy') ?? "default-src 'self'")
    .split(';')
    .map((d) => d.trim())
    .filter((d) => d !== '' && !/^(script|frame|connect)-src\b/.test(d));
  res.headers.set(
    'content-security-policy',
    [
      ...base,
      `script-src 'self' 'nonce-${nonce}' https://connect.facebook.net`,
      'frame-src https://*.facebook.com',
      "connect-src 'self' https://*.facebook.com",
    ].join('; '),
  );
  return res;
}

type FormEnv = { Variables: { form: Record<string, unknown>; session: Session } };

/** Registers the Embedded Signup routes; they sit behind the dashboard's session and CSRF checks. */
export function registerEmbeddedSignupRoutes<E extends FormEnv>(app: Hono<E>, ctx: BrokerContext): void {
  /** Logins are bound to the session that started them (the callback arrives cross-site, with the Lax cookie). */
  const binding = (c: Context) =>
    ctx.sessions.loginBinding((c as unknown as Context<FormEnv>).get('session'));
  const back = (tenantId: string, flash: string) => `/tenants/${encodeURIComponent(tenantId)}?flash=${flash}`;

  /** Stores the signup; the flash says connected / reconnected, or failed (the reason is in the audit log). */
  async function finish(
    c: Context,
    tenantId: string,
    code: string,
    session: EmbeddedSignupSession,
  ): Promise<Response> {
    const before = (await ctx.manager.listCredentials(tenantId)).length;
    let connected: ConnectedAccount;
    try {
      connected = await connectEmbeddedSignup(ctx, tenantId, { code, session });
    } catch (err) {
      await ctx.audit('connect.failed', {
        tenantId,
        detail: { flow: 'embedded-signup', error: scrubText((err as Error).message) },
      });
      return c.redirect(back(tenantId, 'connect-failed'), 303);
    }
    const added = (await ctx.manager.listCredentials(tenantId)).length > before;
    const flash = connected.skipped.length > 0 ? 'numbers-skipped' : added ? 'connected' : 'reconnected';
    return c.redirect(back(tenantId, flash), 303);
  }

  const ids = (q: (name: string) => string | undefined): EmbeddedSignupSession => ({
    wabaId: q('waba_id') || undefined,
    phoneNumberId: q('phone_number_id') || undefined,
    businessId: q('business_id') || undefined,
  });

  app.get('/connect/embedded-signup/start', async (c) => {
    if (!ctx.sandbox || !ctx.embeddedSignupConfigId) return c.text('Embedded Signup is not set up here', 404);
    const tenant = await ctx.store.tenants.get(c.req.query('tenant') ?? '');
    if (!tenant) return c.text('no such tenant', 404);
    const started = await embeddedSignupFlowFor(ctx).start({ tenantId: tenant.id, binding: binding(c) });
    return c.redirect(started.url, 303);
  });

  app.get('/connect/embedded-signup/callback', async (c) => {
    if (!ctx.embeddedSignupConfigId) return c.text('Embedded Signup is not set up here', 404);
    let verified: Awaited<ReturnType<ReturnType<typeof embeddedSignupFlowFor>['verifyCallback']>>;
    try {
      verified = await embeddedSignupFlowFor(ctx).verifyCallback(c.req.url, { binding: binding(c) });
    } catch (err) {
      const denied = (err as { name?: string }).name === 'OAuthDeniedError';
      await ctx.audit(denied ? 'connect.denied' : 'connect.failed', {
        detail: { flow: 'embedded-signup', error: scrubText((err as Error).message) },
      });
      if (denied) return c.redirect('/?flash=denied', 303);
      const message = err instanceof WacloudError ? err.message : 'the callback could not be checked';
      return c.text(`The connection failed: ${scrubText(message)}`, 400);
    }
    const tenantId = verified.pending.tenantId;
    if (!tenantId || !(await ctx.store.tenants.get(tenantId)))
      return c.text('this signup was not started for a tenant', 400);
    return finish(
      c,
      tenantId,
      verified.code,
      ids((n) => c.req.query(n)),
    );
  });

  // From the JS SDK snippet's form (CSRF-checked like every dashboard POST).
  app.post('/tenants/:id/embedded-signup', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const form = (c as unknown as Context<FormEnv>).get('form');
    const field = (name: string) => (typeof form[name] === 'string' ? (form[name] as string).trim() : '');
    const code = field('code');
    if (!code || code.length > 2048) return c.redirect(back(tenant.id, 'connect-failed'), 303);
    return finish(c, tenant.id, code, ids(field));
  });
}
