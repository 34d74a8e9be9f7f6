import { createAuthClient } from '../auth/auth-client.js';
import type { CredentialKind, CredentialRecord } from '../auth/credential-store.js';
import { listWabaPhoneNumbers, sharedWabaIds, subscribeAppToWaba } from '../auth/embedded-signup.js';
import { LoginFlow } from '../auth/login-flow.js';
import type { TokenInspection } from '../auth/token-inspection.js';
import type { Secret } from '../core/secret.js';
import { scrubText } from '../core/secret.js';
import type { BrokerContext } from './context.js';

/** Scopes a WhatsApp connection asks for (graph-api-facts.md §6.3; WhatsApp "Permissions"). */
export const CONNECT_SCOPES = [
  'business_management',
  'whatsapp_business_management',
  'whatsapp_business_messaging',
];

export function loginFlowFor(ctx: BrokerContext): LoginFlow {
  return new LoginFlow({
    auth: createAuthClient({ appId: ctx.appId, appSecret: ctx.appSecret, graph: ctx.graph }),
    redirectUri: `${ctx.publicUrl()}/connect/callback`,
    scopes: CONNECT_SCOPES,
    stateStore: ctx.store.oauthStates,
    dialogUrl: ctx.dialogUrl,
    apiVersion: ctx.apiVersion,
    clock: ctx.clock,
  });
}

export interface ConnectedAccount {
  credential: CredentialRecord;
  wabaIds: string[];
  phoneNumbers: number;
  /** Steps that failed after the token was stored (listing numbers, subscribing): the token is kept regardless. */
  warnings: string[];
}

/**
 * Stores a freshly obtained token for a tenant and discovers what it may reach: the shared WABAs (granular scope
 * target ids), their phone numbers (stored, so webhooks route and the proxy allows them) and the app's webhook
 * subscription on each WABA. A reconnect of the same subject replaces the old credential's token (new version),
 * so clients using it switch on their next request.
 */
export async function storeConnection(
  ctx: BrokerContext,
  tenantId: string,
  token: Secret,
  kind: CredentialKind,
  inspection: TokenInspection,
): Promise<ConnectedAccount> {
  const existing = (await ctx.manager.listCredentials(tenantId)).find(
    (c) => c.subjectId !== null && c.subjectId === (inspection.userId ?? null) && c.kind === kind,
  );
  let credential: CredentialRecord;
  if (existing) {
    credential = await ctx.manager.replaceToken(existing.id, token);
    await ctx.audit('credential.reconnected', { tenantId, credentialId: credential.id, detail: { kind } });
  } else {
    credential = await ctx.manager.addCredential({
      tenantId,
      token,
      kind,
      inspect: false,
      expiresAtMs: inspection.expiresAtMs,
      dataAccessExpiresAtMs: inspection.dataAccessExpiresAtMs,
      issuedAtMs: inspection.issuedAtMs,
      scopes: inspection.scopes,
      targetIds: inspection.granularScopes.flatMap((g) => g.targetIds ?? []),
      subjectId: inspection.userId ?? null,
    });
    await ctx.audit('credential.connected', { tenantId, credentialId: credential.id, detail: { kind } });
  }
  const wabaIds = sharedWabaIds(inspection);
  const warnings: string[] = [];
  let phoneNumbers = 0;
  for (const wabaId of wabaIds) {
    try {
      for (const n of await listWabaPhoneNumbers(ctx.graph, token, wabaId)) {
        await ctx.store.phoneNumbers.upsert({
          id: n.id,
          tenantId,
          wabaId,
          displayNumber: n.displayPhoneNumber ?? null,
          verifiedName: n.verifiedName ?? null,
          credentialId: credential.id,
        });
        phoneNumbers++;
      }
    } catch (err) {
      warnings.push(`listing the numbers of WABA ${wabaId} failed: ${scrubText((err as Error).message)}`);
    }
    try {
      await subscribeAppToWaba(ctx.graph, token, wabaId);
    } catch (err) {
      warnings.push(`subscribing the app to WABA ${wabaId} failed: ${scrubText((err as Error).message)}`);
    }
  }
  ctx.access.invalidateTenant(tenantId);
  return { credential, wabaIds, phoneNumbers, warnings };
}
