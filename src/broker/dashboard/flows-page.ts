import type { FlowKeyView } from '../../flows/key-custody.js';
import { WhatsApp } from '../../whatsapp/whatsapp.js';
import type { BrokerContext } from '../context.js';
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
<p class="muted">Keys are made and uploaded with <code>wacloud flows keygen --phone ID</code> and <code>wacloud flows upload-key --phone ID</code>; private keys stay encrypted in the vault.</p></section>
${numbers.map(
  (
    n,
  ) => html`<section><h2>${n.displayPhoneNumber ?? n.id} <span class="muted"><code>${n.id}</code></span></h2>
<p>Endpoint URI: <code>${n.endpointUrl}</code></p>
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
