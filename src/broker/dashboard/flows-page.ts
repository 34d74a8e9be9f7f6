import type { Context, Hono } from 'hono';
import { scrubText } from '../../core/secret.js';
import type { FlowKeyView } from '../../flows/key-custody.js';
import { WhatsApp } from '../../whatsapp/whatsapp.js';
import type { BrokerContext } from '../context.js';
import { FLOWS_EVENT } from '../flow-endpoint.js';
import {
  brokerFlowKeyDeps,
  FlowKeyRefusedError,
  listFlowKeys,
  provisionFlowKey,
} from '../flow-key-service.js';
import { html, type SafeHtml } from './html.js';
import { formatTime, layout, type PageContext } from './pages.js';

export interface FlowNumberView {
  id: string;
  displayPhoneNumber: string | null;
  endpointUrl: string;
  keys: Array<FlowKeyView & { uploadedAtMs?: number | null; checkedAtMs?: number | null }>;
}

/** The flows of one WABA, as Meta lists them, or why they could not be listed. */
export interface WabaFlowsView {
  wabaId: string;
  flows: Array<{ id: string; name?: string; status?: string; endpoint_uri?: string }>;
  error?: string;
}

/** Lists each WABA's flows with the token of a credential that serves one of its numbers. */
export async function listWabaFlows(
  ctx: BrokerContext,
  numbers: Array<{ wabaId: string; credentialId: string | null }>,
): Promise<WabaFlowsView[]> {
  const byWaba = new Map<string, string | null>();
  for (const n of numbers) if (!byWaba.get(n.wabaId)) byWaba.set(n.wabaId, n.credentialId);
  const out: WabaFlowsView[] = [];
  for (const [wabaId, credentialId] of byWaba) {
    if (!credentialId) {
      out.push({ wabaId, flows: [], error: 'no credential serves this WABA' });
      continue;
    }
    const wa = new WhatsApp({
      tokenProvider: ctx.manager.tokenProvider(credentialId),
      appSecret: ctx.appSecret,
      graphUrl: ctx.graphUrl,
      apiVersion: ctx.apiVersion,
      transport: ctx.transport,
      clock: ctx.clock,
      retry: { maxAttempts: 1 },
      configSource: { env: {}, envFile: false },
    });
    try {
      const page = await wa.flows.list({ wabaId, fields: 'name,status,endpoint_uri' });
      out.push({ wabaId, flows: page.data });
    } catch (error) {
      out.push({
        wabaId,
        flows: [],
        error: error instanceof Error ? error.message : 'the flows could not be listed',
      });
    } finally {
      await wa.close();
    }
  }
  return out;
}

/** "Generate and upload key" for a number without an active key, "Rotate key" for one with. */
function keyForm(ctx: PageContext, tenantId: string, n: FlowNumberView): SafeHtml {
  const rotate = n.keys.some((k) => k.state === 'active');
  return html`<form class="inline" method="post" action="/tenants/${tenantId}/flows/keys"${rotate ? html` data-confirm="Rotate the flow key of ${n.id}? The new key is uploaded to Meta; the current one keeps decrypting for the grace period, then retires."` : ''}><input type="hidden" name="csrf" value="${ctx.csrfToken}"><input type="hidden" name="phoneNumberId" value="${n.id}"><input type="hidden" name="action" value="${rotate ? 'rotate' : 'first'}"><button type="submit">${rotate ? 'Rotate key' : 'Generate and upload key'}</button></form>`;
}

const STATE_COLOR: Record<string, string> = {
  active: '#1a7f37',
  pending: '#b35900',
  retiring: '#6e7781',
  retired: '#6e7781',
};

/**
 * A tenant's Flows: per phone number, the Flow endpoint URL to set as `endpoint_uri`, its key pairs (fingerprint,
 * state, Meta's last answer; never a private key) and whether a flow service (`flows` subscription) is set.
 */
export function flowsPage(
  ctx: PageContext,
  tenant: { id: string; name: string },
  numbers: FlowNumberView[],
  hasService: boolean,
  wabas: WabaFlowsView[] = [],
): SafeHtml {
  return layout(
    ctx,
    `${tenant.name} · Flows`,
    html`<section><h1>${tenant.name}: WhatsApp Flows</h1>
<p>Flow service: ${
      hasService
        ? html`<span class="badge" style="background:#1a7f37">set</span> <span class="muted">the broker forwards decrypted requests to the <code>flows</code> subscription</span>`
        : html`<span class="badge" style="background:#cf222e">missing</span> <span class="muted">add an outbound webhook with the event <code>flows</code>: the broker forwards each decrypted request to it</span>`
    }</p>
<p class="muted">A key is generated here (or with <code>wacloud flows keygen --tenant ID --phone-number-id ID</code>) and uploaded with the tenant's stored token; private keys stay encrypted in the vault.</p></section>
${numbers.map(
  (
    n,
  ) => html`<section><h2>${n.displayPhoneNumber ?? n.id} <span class="muted"><code>${n.id}</code></span></h2>
<p>Endpoint URI: <code>${n.endpointUrl}</code></p>
${keyForm(ctx, tenant.id, n)}
<table><thead><tr><th>Key</th><th>State</th><th>Meta</th><th>Retires after</th></tr></thead><tbody>
${n.keys.map(
  (
    k,
  ) => html`<tr data-flow-key="${k.id}"><td><code>${k.fingerprint}</code></td><td><span class="badge" style="background:${STATE_COLOR[k.state] ?? '#6e7781'}">${k.state}</span></td>
<td>${k.metaStatus ?? 'not checked'}</td><td>${k.retireAfterMs === null ? '' : formatTime(k.retireAfterMs)}</td></tr>`,
)}
${n.keys.length === 0 ? html`<tr><td colspan="4" class="muted">No key yet: requests to this endpoint get 421.</td></tr>` : ''}
</tbody></table></section>`,
)}
${numbers.length === 0 ? html`<section class="muted">No phone numbers yet.</section>` : ''}
${wabas.map(
  (
    w,
  ) => html`<section><h2>Flows of WABA <code>${w.wabaId}</code></h2>${w.error ? html`<p class="muted">${w.error}</p>` : ''}
<table><thead><tr><th>Flow</th><th>Status</th><th>Endpoint</th></tr></thead><tbody>
${w.flows.map((f) => html`<tr data-flow="${f.id}"><td>${f.name ?? ''} <span class="muted"><code>${f.id}</code></span></td><td>${f.status ?? ''}</td><td><code>${f.endpoint_uri ?? ''}</code></td></tr>`)}
${w.flows.length === 0 && !w.error ? html`<tr><td colspan="3" class="muted">No flows.</td></tr>` : ''}
</tbody></table></section>`,
)}`,
  );
}

type FormEnv = { Variables: { form: Record<string, unknown> } };

/**
 * The tenant's Flows page and its key action (behind the dashboard's session and CSRF checks). The action calls the
 * same provisionFlowKey as the API: generated, uploaded with the tenant's stored token, audited.
 */
export function registerFlowsRoutes<E extends FormEnv>(
  app: Hono<E>,
  ctx: BrokerContext,
  page: (c: Context, body: SafeHtml) => Response,
  pageCtx: (c: Context<E>) => PageContext,
): void {
  const deps = brokerFlowKeyDeps(ctx);
  app.get('/tenants/:id/flows', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const keys = ctx.store.flowKeys ? await listFlowKeys(deps, tenant.id) : [];
    const rows = await ctx.store.phoneNumbers.listByTenant(tenant.id);
    const numbers = rows.map((n) => ({
      id: n.id,
      displayPhoneNumber: n.displayPhoneNumber || null,
      endpointUrl: `${ctx.publicUrl()}/flows/${n.id}`,
      keys: keys.filter((k) => k.phoneNumberId === n.id),
    }));
    const subs = await ctx.store.subscriptions.listByTenant(tenant.id);
    const hasService = subs.some((s) => s.active && s.events.includes(FLOWS_EVENT));
    const wabas = await listWabaFlows(ctx, rows);
    return page(c, flowsPage(pageCtx(c), tenant, numbers, hasService, wabas));
  });

  app.post('/tenants/:id/flows/keys', async (c) => {
    const tenant = await ctx.store.tenants.get(c.req.param('id'));
    if (!tenant) return c.text('no such tenant', 404);
    const form = (c as unknown as Context<FormEnv>).get('form');
    const phone = typeof form.phoneNumberId === 'string' ? form.phoneNumberId.trim() : '';
    const mode = form.action === 'rotate' ? 'rotate' : form.action === 'first' ? 'first' : undefined;
    const back = (flash: string) =>
      c.redirect(`/tenants/${encodeURIComponent(tenant.id)}/flows?flash=${flash}`, 303);
    if (!mode) return c.text('action must be first or rotate', 400);
    try {
      await provisionFlowKey(deps, tenant.id, phone, mode);
      return back(mode === 'rotate' ? 'flow-key-rotated' : 'flow-key-uploaded');
    } catch (error) {
      if (error instanceof FlowKeyRefusedError) {
        if (error.reason === 'not_found') return c.text('no such phone number', 404);
        return back('flow-key-refused');
      }
      // Audited as flow_key.upload_failed by provisionFlowKey; the page shows a fixed text only.
      ctx.logger.warn('flow key upload failed', { tenantId: tenant.id, error: scrubText(String(error)) });
      return back('flow-key-failed');
    }
  });
}
