import type { FlowKeyView } from '../../flows/key-custody.js';
import { html, type SafeHtml } from './html.js';
import { formatTime, layout, type PageContext } from './pages.js';

export interface FlowNumberView {
  id: string;
  displayNumber: string | null;
  endpointUrl: string;
  keys: Array<FlowKeyView & { uploadedAtMs?: number | null; checkedAtMs?: number | null }>;
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
  (n) => html`<section><h2>${n.displayNumber ?? n.id} <span class="muted"><code>${n.id}</code></span></h2>
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
${numbers.length === 0 ? html`<section class="muted">No phone numbers yet.</section>` : ''}`,
  );
}
