import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { WacloudError } from '../../core/errors.js';
import { Secret, scrubText } from '../../core/secret.js';
import { describeEvent } from '../../webhooks/describe-event.js';
import { parseJsonBody } from '../../webhooks/parse-json-body.js';
import { parseWebhook } from '../../webhooks/parse-webhook.js';
import { WhatsApp } from '../../whatsapp/whatsapp.js';
import {
  type Discovery,
  discoverAssets,
  loginFlowFor,
  storeConnection,
  storePastedToken,
} from '../connect.js';
import type { BrokerContext } from '../context.js';
import { credentialView } from '../credential-view.js';
import { replayWebhook } from '../inbox.js';
import { parseRowId } from '../ports.js';
import { isThrottled } from '../security/auth-guard.js';
import { type Session, sessionIdHash } from '../security/session.js';
import { generateWebhookSecret } from '../standard-webhooks.js';
import { setSubscriptionActive, subscriptionView } from '../subscriptions.js';
import {
  embeddedSignupCsp,
  embeddedSignupFragment,
  registerEmbeddedSignupRoutes,
} from './embedded-signup.js';
import { registerFlowsRoutes } from './flows-page.js';
import type { SafeHtml } from './html.js';
import {
  auditPage,
  deliveriesPage,
  loginPage,
  overviewPage,
  type PageContext,
  type TenantSummary,
  tenantPage,
  webhooksPage,
} from './pages.js';
import { DASHBOARD_SCRIPT, DASHBOARD_SCRIPT_PATH } from './script.js';

type Env = { Variables: { session: Session; form: Record<string, unknown> } };

/** Fixed flash texts: the dashboard never reflects text from the query string. */
const FLASHES: Record<string, { kind: 'ok' | 'error'; text: string }> = {
  connected: {
    kind: 'ok',
    text: 'WhatsApp connected: the token is stored encrypted and will be kept working.',
  },
  reconnected: { kind: 'ok', text: 'Reconnected: a new token version is in use.' },
  'token-added': {
    kind: 'ok',
    text: 'Token checked with debug_token and stored encrypted; its phone numbers are recorded.',
  },
  'token-added-partly': {
    kind: 'error',
    text: 'Token stored encrypted, but finding its phone numbers did not complete (see the audit log): use "Re-discover numbers" when Graph is reachable.',
  },
  'numbers-skipped': {
    kind: 'error',
    text: 'Some phone numbers this token reaches belong to another tenant: they were left with it (see the audit log).',
  },
  discovered: { kind: 'ok', text: 'Phone numbers discovered again.' },
  'discovery-partly': {
    kind: 'error',
    text: 'Finding the phone numbers did not complete (see the audit log); try again later.',
  },
  sent: { kind: 'ok', text: 'Test message sent.' },
  replayed: { kind: 'ok', text: 'Queued for processing again.' },
  'webhook-replayed': {
    kind: 'ok',
    text: 'Queued again: its deliveries are sent again with their original webhook-id, and subscriptions added since get it too.',
  },
  'delivery-replayed': {
    kind: 'ok',
    text: 'Delivery queued again, with its original webhook-id and a fresh retry schedule.',
  },
  'already-pending': { kind: 'error', text: 'That is pending already: it will be attempted.' },
  'subscription-deactivated': {
    kind: 'ok',
    text: 'Subscription deactivated: nothing more is sent to it (its pending deliveries are dead-lettered).',
  },
  'subscription-activated': { kind: 'ok', text: 'Subscription active again.' },
  'subscription-invalid': {
    kind: 'error',
    text: 'Nothing added: the URL must be an http(s) URL, and events a comma-separated list of event types (at most 100).',
  },
  'subscription-refused': {
    kind: 'error',
    text: 'Nothing added: outbound webhooks go to https URLs on public addresses only (loopback, link-local, private, unique-local, unspecified and multicast destinations are refused; an operator can allow local receivers with WACLOUD_OUTBOUND_ALLOW).',
  },
  'tenant-created': { kind: 'ok', text: 'Tenant created.' },
  'flow-key-uploaded': {
    kind: 'ok',
    text: "Flow key generated and uploaded with the tenant's token; Meta holds it (VALID) and it is active.",
  },
  'flow-key-rotated': {
    kind: 'ok',
    text: 'Flow key rotated: the new key is active; the previous one keeps decrypting for the grace period, then retires.',
  },
  'flow-key-refused': {
    kind: 'error',
    text: 'Nothing changed: the number has an active key already (rotate it), has none to rotate, or the tenant has no working token.',
  },
  'flow-key-failed': {
    kind: 'error',
    text: 'The flow key could not be uploaded to Meta; see the audit log.',
  },
  denied: { kind: 'error', text: 'The WhatsApp connection was cancelled on the consent page.' },
  'connect-failed': { kind: 'error', text: 'The connection could not be completed; see the audit log.' },
};

const STATUS_ORDER = ['invalid', 'expired', 'revoked', 'expiring', 'active'] as const;

/** A subscription URL from a form: http(s) only, or undefined. */
function subscriberUrl(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 2000) return undefined;
  try {
    const u = new URL(value.trim());
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** An event filter from a form (`message, status`): type names; empty or `*` is every event; undefined if malformed. */
function eventFilter(value: unknown): string[] | undefined {
  const items = (typeof value === 'string' ? value : '').split(/[\s,]+/).filter((x) => x !== '');
  if (items.includes('*')) return items.length === 1 ? [] : undefined;
  if (items.length > 100 || !items.every((x) => /^[a-z][a-z0-9_.]{0,99}$/.test(x))) return undefined;
  return [...new Set(items)];
}

/**
 * The dashboard: server-rendered pages that work without JavaScript (one small script, script.ts, only adds copy
 * buttons, confirmations and live times). An admin key logs in (HttpOnly, SameSite=Lax signed session cookie,
 * revoked server-side on logout; failed logins throttled per address and key id); every form carries a CSRF token
 * bound to the session. Tokens are accepted in forms but never shown.
 */
export function createDashboard(ctx: BrokerContext): Hono<Env> {
  const app = new Hono<Env>();

  const page = (c: Context, body: SafeHtml, status: 200 | 400 | 403 | 404 | 429 = 200) =>
    c.html(body.value, status, {
      'cache-control': 'no-store',
      'x-frame-options': 'DENY',
      'content-security-policy':
        "default-src 'self'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; " +
        `frame-ancestors 'none'; form-action 'self' ${new URL(ctx.dialogUrl).origin}`,
    });
  const pageCtx = (c: Context<Env>): PageContext => {
    const session = c.get('session');
    const flash = FLASHES[c.req.query('flash') ?? ''];
    return {
      csrfToken: session ? ctx.sessions.csrfToken(session) : undefined,
      flash,
      sandbox: ctx.sandbox,
      nowMs: ctx.clock.now(),
      publicUrl: ctx.publicUrl(),
    };
  };

  app.use('*', bodyLimit({ maxSize: 64 * 1024, onError: (c) => c.text('request too large', 413) }));
  // Forms are parsed once, here: a malformed body is a 400, never an exception in a handler.
  app.use('*', async (c, next) => {
    if (c.req.method === 'POST') {
      try {
        c.set('form', (await c.req.parseBody()) as Record<string, unknown>);
      } catch {
        return c.text('malformed form body', 400);
      }
    }
    await next();
  });

  app.get('/login', (c) => page(c, loginPage({ sandbox: ctx.sandbox, nowMs: ctx.clock.now() })));
  app.post('/login', async (c) => {
    const pctx = { sandbox: ctx.sandbox, nowMs: ctx.clock.now() };
    const form = c.get('form');
    const key = typeof form.key === 'string' ? form.key.trim() : '';
    // Failures are counted per address (behind WACLOUD_TRUSTED_PROXIES: the forwarded one) and per key id; past a
    // burst, wrong keys get 429. The right key is always looked up, so an attacker's noise never locks it out.
    const client = ctx.authGuard.clientOfEnv(c.env);
    const principal = await ctx.authGuard.authenticate('dashboard', client, key);
    if (isThrottled(principal)) {
      await ctx.audit('dashboard.login_failed', { detail: { ip: client, throttled: true } });
      c.header('retry-after', String(principal.retryAfterSec));
      return page(
        c,
        loginPage(pctx, `Too many failed attempts; try again in ${principal.retryAfterSec} s.`),
        429,
      );
    }
    if (!principal?.admin) {
      await ctx.audit('dashboard.login_failed', { detail: { ip: client } });
      return page(c, loginPage(pctx, 'That is not a valid admin key.'), 403);
    }
    const { cookie } = ctx.sessions.issue(principal.keyId);
    await ctx.audit('dashboard.login', { detail: { keyId: principal.keyId } });
    c.header('set-cookie', cookie);
    return c.redirect('/', 303);
  });

  // Everything below needs a session; every POST a CSRF token.
  app.use('*', async (c, next) => {
    const session = ctx.sessions.read(c.req.header('cookie'));
    if (!session) return c.redirect('/login', 303);
    // The key behind the session must still be live: revoking it ends its sessions (at once on this instance, within
    // the access-cache TTL on others). In memory on a cache hit: no store read per request.
    // Logged out (on any instance): the cookie, even a copy of it, no longer opens anything.
    if (
      !(await ctx.access.isAdminKeyLive(session.keyId)) ||
      (await ctx.store.revokedSessions.isRevoked(sessionIdHash(session)))
    ) {
      c.header('set-cookie', ctx.sessions.clearCookie());
      return c.redirect('/login', 303);
    }
    c.set('session', session);
    if (c.req.method === 'POST') {
      const form = c.get('form');
      if (!ctx.sessions.checkCsrf(session, form.csrf))
        return c.text('CSRF token missing or wrong: reload the page and try again', 403);
    }
    await next();
  });

  // The one script (script.ts): static, from 'self', behind the session like the pages that load it.
  app.get(DASHBOARD_SCRIPT_PATH, (c) =>
    c.body(DASHBOARD_SCRIPT, 200, {
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'private, max-age=300',
      'x-content-type-options': 'nosniff',
    }),
  );

  app.post('/logout', async (c) => {
    const session = c.get('session');
    const nowMs = Date.now();
    await ctx.store.revokedSessions.revoke(sessionIdHash(session), session.expiresAtMs, nowMs);
    // Each logout also drops the revocations no cookie can use any more (their sessions expired anyway).
    await ctx.store.revokedSessions.purgeExpired(nowMs);
    await ctx.audit('dashboard.logout', { detail: { keyId: session.keyId } });
    c.header('set-cookie', ctx.sessions.clearCookie());
    return c.redirect('/login', 303);
  });

  app.get('/', async (c) => {
    const tenants = await ctx.store.tenants.list();
    const summaries: TenantSummary[] = [];
    for (const t of tenants) {
      const creds = await ctx.manager.listCredentials(t.id);
      const numbers = await ctx.store.phoneNumbers.listByTenant(t.id);
      const worst = STATUS_ORDER.find((s) => creds.some((x) => x.status === s)) ?? 'none';
      summaries.push({
        id: t.id,
        name: t.name,
        worstStatus: worst,
        credentials: creds.length,
        phoneNumbers: numbers.length,
      });
    }
    return page(c, overviewPage(pageCtx(c), summaries));
  });

  app.post('/tenants', async (c) => {
    const form = c.get('form');
    const name = typeof form.name === 'string' ? form.name.trim().slice(0, 100) : '';
    if (!name) return c.redirect('/', 303);
    const tenant = await ctx.store.tenants.create({ name }, ctx.clock.now());
    await ctx.audit('tenant.created', { tenantId: tenant.id });
    return c.redirect(`/tenants/${encodeURIComponent(tenant.id)}?flash=tenant-created`, 303);
  });

  app.get('/tenants/:id', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const now = ctx.clock.now();
    const creds = (await ctx.manager.listCredentials(tenant.id)).map((x) =>
      credentialView(x, now, ctx.policies),
    );
    const numbers = await ctx.store.phoneNumbers.listByTenant(tenant.id);
    const pctx = pageCtx(c);
    const signup = embeddedSignupFragment(ctx, tenant.id, pctx.csrfToken);
    return embeddedSignupCsp(
      page(
        c,
        tenantPage(
          pctx,
          tenant,
          creds,
          numbers,
          `/connect/start?tenant=${encodeURIComponent(tenant.id)}`,
          signup.html,
        ),
      ),
      signup.nonce,
    );
  });

  app.post('/tenants/:id/credentials', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const form = c.get('form');
    const raw = typeof form.token === 'string' ? form.token.trim() : '';
    let stored: Discovery;
    try {
      stored = await storePastedToken(ctx, tenant.id, new Secret(raw, 'access-token'));
    } catch (err) {
      const message = err instanceof WacloudError ? err.message : 'the token could not be checked';
      await ctx.audit('credential.paste_failed', {
        tenantId: tenant.id,
        detail: { error: scrubText(message) },
      });
      return c.redirect(`/tenants/${encodeURIComponent(tenant.id)}?flash=connect-failed`, 303);
    }
    const flash = !stored.complete
      ? 'token-added-partly'
      : stored.skipped.length > 0
        ? 'numbers-skipped'
        : 'token-added';
    return c.redirect(`/tenants/${encodeURIComponent(tenant.id)}?flash=${flash}`, 303);
  });

  app.post('/credentials/:id/discover', async (c) => {
    const cred = await ctx.manager.getCredential(c.req.param('id'));
    if (!cred) return c.text('no such credential', 404);
    const back = `/tenants/${encodeURIComponent(cred.tenantId)}`;
    if (cred.status !== 'active' && cred.status !== 'expiring')
      return c.redirect(`${back}?flash=connect-failed`, 303);
    const found = await discoverAssets(ctx, cred, { trigger: 'manual' });
    const flash = !found.complete
      ? 'discovery-partly'
      : found.skipped.length > 0
        ? 'numbers-skipped'
        : 'discovered';
    return c.redirect(`${back}?flash=${flash}`, 303);
  });

  app.post('/tenants/:id/send-test', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const form = c.get('form');
    const from = String(form.from ?? '');
    const number = await ctx.store.phoneNumbers.get(from);
    if (!number || number.tenantId !== tenant.id || !number.credentialId)
      return c.text('no such phone number', 404);
    const wa = new WhatsApp({
      tokenProvider: ctx.manager.tokenProvider(number.credentialId),
      phoneNumberId: from,
      appSecret: ctx.appSecret,
      graphUrl: ctx.graphUrl,
      apiVersion: ctx.apiVersion,
      transport: ctx.transport,
      clock: ctx.clock,
      configSource: { env: {}, envFile: false },
    });
    try {
      const sent = await wa.messages.template({
        to: String(form.to ?? ''),
        name: String(form.template || 'hello_world'),
        language: 'en_US',
      });
      await ctx.audit('message.sent', {
        tenantId: tenant.id,
        detail: { from, messageId: sent.messages?.[0]?.id },
      });
      return c.redirect(`/tenants/${encodeURIComponent(tenant.id)}?flash=sent`, 303);
    } catch (err) {
      await ctx.audit('message.failed', {
        tenantId: tenant.id,
        detail: { from, error: scrubText((err as Error).message) },
      });
      return c.redirect(`/tenants/${encodeURIComponent(tenant.id)}?flash=connect-failed`, 303);
    }
  });

  registerEmbeddedSignupRoutes(app, ctx);

  app.get('/connect/start', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.query('tenant') ?? '');
    if (!tenant) return c.text('no such tenant', 404);
    // Bound to this session: only the admin (and browser) that started it can complete it.
    const started = await loginFlowFor(ctx).start({
      tenantId: tenant.id,
      binding: ctx.sessions.loginBinding(c.get('session')),
    });
    return c.redirect(started.url, 303);
  });

  app.get('/connect/callback', async (c) => {
    const flow = loginFlowFor(ctx);
    let tenantId: string | undefined;
    try {
      // The return from Facebook is a cross-site navigation: the Lax session cookie came along, and the state must
      // have been started in this very session.
      const result = await flow.complete(c.req.url, {
        binding: ctx.sessions.loginBinding(c.get('session')),
      });
      tenantId = result.tenantId;
      if (!tenantId || !(await ctx.store.tenants.get(tenantId)))
        return c.text('this login was not started for a tenant', 400);
      const before = (await ctx.manager.listCredentials(tenantId)).length;
      // Discovery problems are in the audit log (credential.discovery_incomplete); the token is kept regardless.
      await storeConnection(ctx, tenantId, result.token, result.kind, result.inspection);
      const flash =
        (await ctx.manager.listCredentials(tenantId)).length > before ? 'connected' : 'reconnected';
      return c.redirect(`/tenants/${encodeURIComponent(tenantId)}?flash=${flash}`, 303);
    } catch (err) {
      const denied = (err as { name?: string }).name === 'OAuthDeniedError';
      await ctx.audit(denied ? 'connect.denied' : 'connect.failed', {
        tenantId: tenantId ?? null,
        detail: { error: scrubText((err as Error).message) },
      });
      if (denied || tenantId)
        return c.redirect(
          tenantId
            ? `/tenants/${encodeURIComponent(tenantId)}?flash=${denied ? 'denied' : 'connect-failed'}`
            : '/?flash=denied',
          303,
        );
      return c.text(`The connection failed: ${scrubText((err as Error).message)}`, 400);
    }
  });

  app.get('/webhooks', async (c) => {
    const rows = await ctx.store.inbox.recent(50);
    const items = rows.map((r) => {
      let summary = '';
      try {
        summary = parseWebhook(parseJsonBody(r.body.toString('utf8')))
          .map((e) => {
            const d = describeEvent(e);
            return `${d.kind}${d.id ? ` ${d.id}` : ''}`;
          })
          .join(', ')
          .slice(0, 200);
      } catch {
        summary = 'unparseable body';
      }
      return {
        id: r.id,
        receivedAtMs: r.receivedAtMs,
        status: r.status,
        summary,
        attempts: r.attempts,
        tenantId: r.tenantId,
      };
    });
    return page(c, webhooksPage(pageCtx(c), items));
  });

  app.post('/webhooks/:id/replay', async (c) => {
    const replayed = await replayWebhook(ctx.store, c.req.param('id'), ctx.clock.now());
    if (!replayed) return c.text('no such webhook', 404);
    if (replayed.alreadyPending) return c.redirect('/webhooks?flash=already-pending', 303);
    ctx.poke();
    return c.redirect('/webhooks?flash=webhook-replayed', 303);
  });

  /** A tenant's outbound webhooks: subscriptions and deliveries (`?status=dead`: the dead letters). */
  const deliveriesView = async (
    c: Context<Env>,
    tenant: { id: string; name: string },
    created?: { url: string; secret: string },
  ) => {
    const q = c.req.query('status');
    const filter = q === 'pending' || q === 'delivered' || q === 'dead' ? q : undefined;
    const subs = await ctx.store.subscriptions.listByTenant(tenant.id);
    const rows = await ctx.store.deliveries.listByTenant(tenant.id, 200, filter);
    const counts = await ctx.store.deliveries.countByStatus(tenant.id);
    return page(
      c,
      deliveriesPage(
        pageCtx(c),
        tenant,
        subs.map(subscriptionView),
        rows.map(({ payload: _payload, ...rest }) => rest),
        counts,
        filter,
        created,
      ),
    );
  };
  app.get('/tenants/:id/deliveries', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    return deliveriesView(c, tenant);
  });
  /** Adds a subscription; the answer is the page itself (not a redirect): the signing secret is shown once, there. */
  app.post('/tenants/:id/subscriptions', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const back = `/tenants/${encodeURIComponent(tenant.id)}/deliveries`;
    const form = c.get('form');
    const url = subscriberUrl(form.url);
    const events = eventFilter(form.events);
    if (!url || !events) return c.redirect(`${back}?flash=subscription-invalid`, 303);
    if (!(await ctx.outbound.checkUrl(url).catch(() => undefined)))
      return c.redirect(`${back}?flash=subscription-refused`, 303);
    const secret = generateWebhookSecret();
    const sub = await ctx.store.subscriptions.create(
      { tenantId: tenant.id, url, secret, events },
      ctx.clock.now(),
    );
    await ctx.audit('subscription.created', { tenantId: tenant.id, detail: { subscriptionId: sub.id } });
    return deliveriesView(c, tenant, { url, secret: secret.reveal() });
  });
  for (const [action, active] of [
    ['deactivate', false],
    ['activate', true],
  ] as const) {
    app.post(`/subscriptions/:id/${action}`, async (c) => {
      const sub = await ctx.store.subscriptions.get(c.req.param('id'));
      if (!sub) return c.text('no such subscription', 404);
      await setSubscriptionActive(ctx, sub, active);
      return c.redirect(
        `/tenants/${encodeURIComponent(sub.tenantId)}/deliveries?flash=subscription-${action}d`,
        303,
      );
    });
  }
  app.post('/deliveries/:id/replay', async (c) => {
    const deliveryId = parseRowId(c.req.param('id'));
    const delivery = deliveryId === undefined ? undefined : await ctx.store.deliveries.get(deliveryId);
    if (!delivery) return c.text('no such delivery', 404);
    const back = `/tenants/${encodeURIComponent(delivery.tenantId)}/deliveries`;
    if (!(await ctx.store.deliveries.requeue(delivery.id, ctx.clock.now())))
      return c.redirect(`${back}?flash=already-pending`, 303);
    ctx.poke();
    return c.redirect(`${back}?flash=delivery-replayed`, 303);
  });

  registerFlowsRoutes(app, ctx, page, pageCtx);

  app.get('/audit', async (c) => {
    const rows = await ctx.store.audit.list({ limit: 200 });
    return page(
      c,
      auditPage(
        pageCtx(c),
        rows.map((r) => ({
          atMs: r.atMs,
          event: r.event,
          credentialId: r.credentialId,
          detail: scrubText(JSON.stringify(r.detail)),
        })),
      ),
    );
  });

  return app;
}
