import { html, type SafeHtml } from './html.js';
import { DASHBOARD_SCRIPT_PATH, relativeTime } from './script.js';

/** What every page needs. */
export interface PageContext {
  csrfToken?: string | undefined;
  flash?: { kind: 'ok' | 'error'; text: string } | undefined;
  sandbox: boolean;
  nowMs: number;
  /** The broker's public URL (WACLOUD_PUBLIC_URL): the overview shows what to register with Meta. */
  publicUrl?: string | undefined;
}

export interface CredentialView {
  id: string;
  kind: string;
  status: 'active' | 'expiring' | 'expired' | 'invalid' | 'revoked';
  version: number;
  issuedAtMs: number | null;
  expiresAtMs: number | null;
  dataAccessExpiresAtMs: number | null;
  nextCheckAtMs: number;
  lastError: string | null;
  /** What happens next, in words: "renews automatically on …", "reconnect before …". */
  nextAction: string;
  /** Whether the user must act (reconnect). */
  needsReconnect: boolean;
  scopes: string[];
}

export interface TenantSummary {
  id: string;
  name: string;
  worstStatus: CredentialView['status'] | 'none';
  credentials: number;
  phoneNumbers: number;
}

export interface PhoneNumberView {
  id: string;
  displayPhoneNumber: string;
  wabaId: string;
  verifiedName?: string | null;
}

export interface InboxView {
  id: number;
  receivedAtMs: number;
  status: string;
  summary: string;
  attempts: number;
  tenantId: string | null;
}

export interface AuditView {
  atMs: number;
  event: string;
  credentialId: string | null;
  detail: string;
}

const STATUS_COLOR: Record<string, string> = {
  active: '#1a7f37',
  expiring: '#b35900',
  expired: '#cf222e',
  invalid: '#cf222e',
  revoked: '#6e7781',
  none: '#6e7781',
};

export function formatTime(ms: number | null): string {
  if (ms === null) return 'never';
  return `${new Date(ms).toISOString().replace('T', ' ').slice(0, 16)} UTC`;
}

/** A time, and how long until or since it: the script keeps that part live (without it, it is as of rendering). */
function when(ms: number | null, nowMs: number): SafeHtml | string {
  if (ms === null) return formatTime(ms);
  return html`<time datetime="${new Date(ms).toISOString()}">${formatTime(ms)}</time> <span class="muted" data-relative-to="${ms}">${relativeTime(ms, nowMs)}</span>`;
}

function statusBadge(status: string): SafeHtml {
  return html`<span class="badge" data-status="${status}" style="background:${STATUS_COLOR[status] ?? '#6e7781'}">${status}</span>`;
}

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{background:#0b3d2e;color:#fff;padding:.7rem 1.5rem;display:flex;gap:1.5rem;align-items:center}
header a{color:#d1f0e0;text-decoration:none}header .brand{font-weight:700;color:#fff}
main{max-width:1100px;margin:1.5rem auto;padding:0 1.5rem}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.25rem;margin-bottom:1.25rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
.badge{color:#fff;border-radius:1em;padding:.05rem .6rem;font-size:.8rem;font-weight:600}
.flash{padding:.6rem 1rem;border-radius:6px;margin-bottom:1rem}.flash.ok{background:#dafbe1}.flash.error{background:#ffebe9}
.sandbox{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem 1rem;border-radius:6px;margin-bottom:1rem}
form.inline{display:inline}button,.button{background:#1f883d;color:#fff;border:0;border-radius:6px;padding:.4rem .9rem;font:inherit;cursor:pointer;text-decoration:none;display:inline-block}
button.secondary{background:#6e7781}input,select,textarea{font:inherit;padding:.3rem .4rem;border:1px solid #d0d7de;border-radius:6px}
.muted{color:#656d76}.reconnect{background:#ffebe9;border:1px solid #cf222e;padding:.5rem .8rem;border-radius:6px;margin:.4rem 0}
code{background:#eaeef2;border-radius:4px;padding:0 .3rem}button.copy{padding:.1rem .6rem;font-size:.85rem}[data-relative-to]{display:block;font-size:.9em}
`;

export function layout(ctx: PageContext, title: string, body: SafeHtml, loggedIn = true): SafeHtml {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · wacloud</title><style>${STYLE}</style>${loggedIn ? html`<script src="${DASHBOARD_SCRIPT_PATH}" defer></script>` : ''}</head>
<body data-server-now="${ctx.nowMs}">
<header><a class="brand" href="/">wacloud</a>${
    loggedIn
      ? html`<a href="/">Tenants</a><a href="/webhooks">Webhooks</a><a href="/audit">Audit log</a>
<form class="inline" method="post" action="/logout" style="margin-left:auto"><input type="hidden" name="csrf" value="${ctx.csrfToken}"><button class="secondary" type="submit">Log out</button></form>`
      : ''
  }</header>
<main>
${ctx.sandbox ? html`<div class="sandbox">Sandbox: no Meta app is configured, so this broker talks to its embedded Graph API emulator. Set <code>WA_APP_ID</code> and <code>WA_APP_SECRET</code> to use Meta.</div>` : ''}
${ctx.flash ? html`<div class="flash ${ctx.flash.kind}" role="status">${ctx.flash.text}</div>` : ''}
${body}
</main></body></html>`;
}

export function loginPage(ctx: PageContext, error?: string): SafeHtml {
  return layout(
    ctx,
    'Log in',
    html`<section><h1>Log in</h1>
<p class="muted">Use an admin API key (printed once when the broker first started, or made with the API).</p>
${error ? html`<div class="flash error" role="alert">${error}</div>` : ''}
<form method="post" action="/login"><label>Admin key <input name="key" type="password" autocomplete="off" size="60" required></label>
<button type="submit">Log in</button></form></section>`,
    false,
  );
}

export function overviewPage(ctx: PageContext, tenants: TenantSummary[]): SafeHtml {
  return layout(
    ctx,
    'Tenants',
    html`<section><h1>Tenants</h1>
<table><thead><tr><th>Tenant</th><th>Health</th><th>Credentials</th><th>Numbers</th></tr></thead><tbody>
${tenants.map((t) => html`<tr><td><a href="/tenants/${t.id}">${t.name}</a></td><td>${statusBadge(t.worstStatus)}</td><td>${t.credentials}</td><td>${t.phoneNumbers}</td></tr>`)}
${tenants.length === 0 ? html`<tr><td colspan="4" class="muted">No tenants yet.</td></tr>` : ''}
</tbody></table></section>
<section><h2>New tenant</h2><form method="post" action="/tenants"><input type="hidden" name="csrf" value="${ctx.csrfToken}">
<label>Name <input name="name" required maxlength="100"></label> <button type="submit">Create</button></form></section>
${ctx.publicUrl && !ctx.sandbox ? html`<section><h2>Meta app settings</h2><p class="muted">Valid OAuth Redirect URI: <code data-redirect-uri>${ctx.publicUrl}/connect/callback</code> · the broker's public URL is <code>${ctx.publicUrl}</code> (WACLOUD_PUBLIC_URL).</p></section>` : ''}`,
  );
}

/**
 * The expiry timeline: one bar per credential from issue to expiry, with today's line and the 7-day warning zone.
 * Inline SVG, no script: it renders the same with JavaScript off.
 */
export function expiryTimeline(nowMs: number, credentials: CredentialView[]): SafeHtml {
  const day = 86_400_000;
  const start = nowMs - 7 * day;
  const end = nowMs + 70 * day;
  const width = 700;
  const rowH = 26;
  const x = (ms: number): number =>
    Math.round(((Math.min(Math.max(ms, start), end) - start) / (end - start)) * width);
  const rows = credentials.map((c, i) => {
    const y = 20 + i * rowH;
    const from = x(c.issuedAtMs ?? start);
    const to = c.expiresAtMs === null ? width : x(c.expiresAtMs);
    const warn = c.expiresAtMs === null ? null : x(c.expiresAtMs - 7 * day);
    return html`<g><text x="${width + 8}" y="${y + 13}" font-size="11">${c.kind} v${c.version}</text>
<rect x="${from}" y="${y}" width="${Math.max(2, to - from)}" height="16" rx="3" fill="${STATUS_COLOR[c.status]}" opacity="0.85"><title>${c.kind}: ${c.expiresAtMs === null ? 'never expires' : `expires ${formatTime(c.expiresAtMs)}`}</title></rect>
${warn !== null && warn < to ? html`<rect x="${warn}" y="${y}" width="${to - warn}" height="16" fill="#b35900" opacity="0.5"/>` : ''}</g>`;
  });
  const nowX = x(nowMs);
  return html`<svg role="img" aria-label="Credential expiry timeline" width="100%" viewBox="0 0 ${width + 140} ${30 + credentials.length * rowH}" style="max-width:840px">
<line x1="${nowX}" x2="${nowX}" y1="10" y2="${20 + credentials.length * rowH}" stroke="#1f2328" stroke-dasharray="3 3"/><text x="${nowX + 3}" y="10" font-size="10">now</text>
${rows}</svg>`;
}

export function tenantPage(
  ctx: PageContext,
  tenant: { id: string; name: string },
  credentials: CredentialView[],
  numbers: PhoneNumberView[],
  connectUrl: string,
  /** The "Connect with Embedded Signup" button (embedded-signup.ts), when a configuration is set. */
  embeddedSignup: SafeHtml | '' = '',
): SafeHtml {
  return layout(
    ctx,
    tenant.name,
    html`<section><h1>${tenant.name}</h1><p class="muted">Tenant id <code>${tenant.id}</code></p>
<a class="button" href="${connectUrl}">Connect WhatsApp</a>${embeddedSignup} <a class="button" href="/tenants/${tenant.id}/deliveries">Outbound webhooks</a> <a class="button" href="/tenants/${tenant.id}/flows">Flows</a></section>
<section><h2>Credentials</h2>
${credentials.length ? expiryTimeline(ctx.nowMs, credentials) : ''}
<table><thead><tr><th>Kind</th><th>Status</th><th>Expires</th><th>Data access until</th><th>Next</th></tr></thead><tbody>
${credentials.map(
  (
    c,
  ) => html`<tr data-credential="${c.id}"><td>${c.kind} <span class="muted">v${c.version}</span></td><td>${statusBadge(c.status)}</td>
<td>${when(c.expiresAtMs, ctx.nowMs)}</td><td>${when(c.dataAccessExpiresAtMs, ctx.nowMs)}</td>
<td>${c.needsReconnect ? html`<div class="reconnect">${c.nextAction} <a href="${connectUrl}">Reconnect</a></div>` : c.nextAction}${c.lastError ? html`<div class="muted">${c.lastError}</div>` : ''}
${c.status === 'active' || c.status === 'expiring' ? html`<form class="inline" method="post" action="/credentials/${c.id}/discover"><input type="hidden" name="csrf" value="${ctx.csrfToken}"><button class="secondary" type="submit">Re-discover numbers</button></form>` : ''}</td></tr>`,
)}
${credentials.length === 0 ? html`<tr><td colspan="5" class="muted">No credentials: connect WhatsApp or add a system-user token.</td></tr>` : ''}
</tbody></table></section>
<section><h2>Add a system-user token</h2>
<form method="post" action="/tenants/${tenant.id}/credentials"><input type="hidden" name="csrf" value="${ctx.csrfToken}">
<label>Token <input name="token" type="password" autocomplete="off" size="60" required></label>
<button type="submit">Check and store</button></form>
<p class="muted">Checked with debug_token, stored encrypted, never shown again; the WhatsApp Business Accounts it was granted and their phone numbers are recorded for this tenant (a number another tenant owns is left with it).</p></section>
<section><h2>Phone numbers</h2><table><thead><tr><th>Number</th><th>Phone number id</th><th>WABA</th></tr></thead><tbody>
${numbers.map((n) => html`<tr><td>${n.displayPhoneNumber} ${n.verifiedName ? html`<span class="muted">${n.verifiedName}</span>` : ''}</td><td><code>${n.id}</code></td><td><code>${n.wabaId}</code></td></tr>`)}
${numbers.length === 0 ? html`<tr><td colspan="3" class="muted">None yet.</td></tr>` : ''}
</tbody></table>
${
  numbers.length
    ? html`<h3>Send a test template</h3><form method="post" action="/tenants/${tenant.id}/send-test"><input type="hidden" name="csrf" value="${ctx.csrfToken}">
<select name="from">${numbers.map((n) => html`<option value="${n.id}">${n.displayPhoneNumber || n.id}</option>`)}</select>
<label>To <input name="to" required placeholder="+16505551234"></label>
<label>Template <input name="template" value="hello_world" required></label>
<button type="submit">Send</button></form>`
    : ''
}</section>`,
  );
}

export function webhooksPage(ctx: PageContext, items: InboxView[]): SafeHtml {
  return layout(
    ctx,
    'Webhooks',
    html`<section><h1>Recent webhooks</h1><table><thead><tr><th>Received</th><th>Status</th><th>What</th><th>Tenant</th><th></th></tr></thead><tbody>
${items.map(
  (
    i,
  ) => html`<tr><td>${formatTime(i.receivedAtMs)}</td><td>${i.status} <span class="muted">(${i.attempts})</span></td><td>${i.summary}</td><td>${i.tenantId ?? ''}</td>
<td><form class="inline" method="post" action="/webhooks/${i.id}/replay" data-confirm="Process this webhook again? Its deliveries are sent again to every active subscription."><input type="hidden" name="csrf" value="${ctx.csrfToken}"><button class="secondary" type="submit">Replay</button></form></td></tr>`,
)}
${items.length === 0 ? html`<tr><td colspan="5" class="muted">Nothing received yet.</td></tr>` : ''}
</tbody></table></section>`,
  );
}

export function auditPage(ctx: PageContext, entries: AuditView[]): SafeHtml {
  return layout(
    ctx,
    'Audit log',
    html`<section><h1>Audit log</h1><table><thead><tr><th>When</th><th>Event</th><th>Credential</th><th>Detail</th></tr></thead><tbody>
${entries.map((e) => html`<tr><td>${formatTime(e.atMs)}</td><td>${e.event}</td><td><code>${e.credentialId ?? ''}</code></td><td>${e.detail}</td></tr>`)}
${entries.length === 0 ? html`<tr><td colspan="4" class="muted">No events yet.</td></tr>` : ''}
</tbody></table></section>`,
  );
}

export interface SubscriptionView {
  id: string;
  url: string;
  events: string[];
  active: boolean;
  createdAtMs: number;
}

export interface DeliveryView {
  id: number;
  subscriptionId: string;
  eventType: string;
  eventId: string;
  status: 'pending' | 'delivered' | 'dead';
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
  createdAtMs: number;
}

const DELIVERY_COLOR: Record<string, string> = { pending: '#b35900', delivered: '#1a7f37', dead: '#cf222e' };

/**
 * A tenant's outbound webhooks: its subscriptions (add, deactivate), and its deliveries with status, attempts, last
 * error and next attempt, filterable to the dead letters, each dead or delivered one with a Replay button. `created`
 * is a subscription just added: its signing secret is on this page only.
 */
export function deliveriesPage(
  ctx: PageContext,
  tenant: { id: string; name: string },
  subscriptions: SubscriptionView[],
  deliveries: DeliveryView[],
  counts: Record<'pending' | 'delivered' | 'dead', number>,
  filter: 'pending' | 'delivered' | 'dead' | undefined,
  created?: { url: string; secret: string },
): SafeHtml {
  const csrf = html`<input type="hidden" name="csrf" value="${ctx.csrfToken}">`;
  const urlOf = new Map(subscriptions.map((s) => [s.id, s.url]));
  const tab = (label: string, status?: 'pending' | 'delivered' | 'dead') =>
    filter === status
      ? html`<strong>${label}</strong>`
      : html`<a href="/tenants/${tenant.id}/deliveries${status ? `?status=${status}` : ''}">${label}</a>`;
  return layout(
    ctx,
    `${tenant.name}: outbound webhooks`,
    html`<section><h1>Outbound webhooks</h1><p class="muted"><a href="/tenants/${tenant.id}">${tenant.name}</a> · signed the Standard Webhooks way (<code>webhook-id</code>, <code>webhook-timestamp</code>, <code>webhook-signature</code>); retried with backoff, then dead-lettered.</p></section>
${
  created
    ? html`<section class="flash ok" role="status" data-secret-once><strong>Subscription added for ${created.url}.</strong> Its signing secret, shown this once (only an encrypted copy is kept):
<p><code data-copy="signing secret" data-subscription-secret>${created.secret}</code></p><p class="muted">Verify deliveries with it, e.g. <code>new Webhook(secret).verify(body, headers)</code> from the <code>standardwebhooks</code> package.</p></section>`
    : ''
}
<section><h2>Subscriptions</h2>
<table><thead><tr><th>URL</th><th>Events</th><th>State</th><th></th></tr></thead><tbody>
${subscriptions.map(
  (
    s,
  ) => html`<tr data-subscription="${s.id}"><td><code>${s.url}</code></td><td>${s.events.length ? s.events.join(', ') : html`<span class="muted">every event</span>`}</td>
<td>${s.active ? 'active' : html`<span class="muted">inactive</span>`}</td>
<td><form class="inline" method="post" action="/subscriptions/${s.id}/${s.active ? 'deactivate' : 'activate'}"${s.active ? html` data-confirm="Deactivate the subscription for ${s.url}? Nothing more is sent to it and its pending deliveries are dead-lettered."` : ''}>${csrf}<button class="secondary" type="submit">${s.active ? 'Deactivate' : 'Activate'}</button></form></td></tr>`,
)}
${subscriptions.length === 0 ? html`<tr><td colspan="4" class="muted">No subscriptions: nothing is delivered onward yet.</td></tr>` : ''}
</tbody></table>
<h3>Add a subscription</h3>
<form method="post" action="/tenants/${tenant.id}/subscriptions">${csrf}
<label>URL <input name="url" type="url" required maxlength="2000" size="50" placeholder="https://service.example/hooks/whatsapp"></label>
<label>Events <input name="events" maxlength="2000" size="30" placeholder="message, status"></label>
<button type="submit">Add</button></form>
<p class="muted">Events: comma-separated types (<code>message</code>, <code>status</code>, <code>template_status</code>, <code>credential.expiring</code>, <code>credential.invalid</code>, …); empty means every event.</p></section>
<section><h2>Deliveries</h2>
<p>${tab('All')} · ${tab(`Dead letters (${counts.dead})`, 'dead')} · ${tab(`Pending (${counts.pending})`, 'pending')} · ${tab(`Delivered (${counts.delivered})`, 'delivered')}</p>
<table><thead><tr><th>Created</th><th>Event</th><th>To</th><th>Status</th><th>Attempts</th><th>Last error</th><th>Next attempt</th><th></th></tr></thead><tbody>
${deliveries.map(
  (
    d,
  ) => html`<tr data-delivery="${d.id}" data-delivery-status="${d.status}"><td>${formatTime(d.createdAtMs)}</td><td>${d.eventType} <span class="muted">${d.eventId}</span></td>
<td><code>${urlOf.get(d.subscriptionId) ?? d.subscriptionId}</code></td>
<td><span class="badge" style="background:${DELIVERY_COLOR[d.status]}">${d.status}</span></td><td>${d.attempts}</td><td>${d.lastError ?? ''}</td>
<td>${d.status === 'pending' ? when(d.nextAttemptAtMs, ctx.nowMs) : ''}</td>
<td>${d.status === 'pending' ? '' : html`<form class="inline" method="post" action="/deliveries/${d.id}/replay" data-confirm="Send this delivery again (same webhook-id, a fresh 8 attempts)?">${csrf}<button class="secondary" type="submit">Replay</button></form>`}</td></tr>`,
)}
${deliveries.length === 0 ? html`<tr><td colspan="8" class="muted">${filter === 'dead' ? 'No dead letters.' : 'No deliveries yet.'}</td></tr>` : ''}
</tbody></table></section>`,
  );
}
