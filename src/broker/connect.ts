import { createAuthClient } from '../auth/auth-client.js';
import type { CredentialKind, CredentialRecord } from '../auth/credential-store.js';
import {
  completeEmbeddedSignup,
  listWabaPhoneNumbers,
  sharedWabaIds,
  subscribeAppToWaba,
} from '../auth/embedded-signup.js';
import { LoginFlow } from '../auth/login-flow.js';
import type { TokenEventOf } from '../auth/token-events.js';
import type { TokenInspection } from '../auth/token-inspection.js';
import { ValidationError, WacloudError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import { scrubText } from '../core/secret.js';
import type { BrokerContext } from './context.js';

/** Scopes a WhatsApp connection asks for (graph-api-facts.md §6.3; WhatsApp "Permissions"). */
export const CONNECT_SCOPES = [
  'business_management',
  'whatsapp_business_management',
  'whatsapp_business_messaging',
];

/**
 * The dashboard's Connect. With `WA_LOGIN_CONFIG_ID` it is Login for Business: `config_id` instead of scopes (Meta
 * recommends leaving scope out), `override_default_response_type=true` (business integration configurations need the
 * code grant) and no PKCE (Login for Business is "Authorization Code grant only"; facts §1.1, §1.4).
 */
export function loginFlowFor(ctx: BrokerContext): LoginFlow {
  const configId = ctx.loginConfigId;
  return new LoginFlow({
    auth: createAuthClient({ appId: ctx.appId, appSecret: ctx.appSecret, graph: ctx.graph }),
    redirectUri: `${ctx.publicUrl()}/connect/callback`,
    ...(configId ? { configId, overrideDefaultResponseType: true, pkce: false } : { scopes: CONNECT_SCOPES }),
    stateStore: ctx.store.oauthStates,
    dialogUrl: ctx.dialogUrl,
    apiVersion: ctx.apiVersion,
    clock: ctx.clock,
  });
}

/** What a discovery run found for one credential. Never a token value; messages are scrubbed. */
export interface Discovery {
  /** The WABAs the token's grant names (granular scopes whatsapp_business_management / _messaging). */
  wabaIds: string[];
  /** Phone numbers recorded for the tenant with this credential by this run. */
  phoneNumbers: number;
  /** Numbers left alone because another tenant already owns them (never taken over). */
  skipped: Array<{ phoneNumberId: string; wabaId: string; reason: 'owned-by-another-tenant' }>;
  /** Everything that did not go as planned, in words (failed steps, skipped numbers, an empty grant). */
  warnings: string[];
  /** False when a step failed (debug_token, listing numbers, subscribing the app): run it again later. */
  complete: boolean;
}

export type DiscoveryTrigger = 'connect' | 'paste' | 'manual' | 'health-check';

export interface DiscoveryOptions {
  trigger: DiscoveryTrigger;
  /** The token to use; default the credential's current version (from the token manager's cache). */
  token?: Secret | undefined;
  /** A fresh debug_token result for `token`; without it, discovery inspects the token itself. */
  inspection?: TokenInspection | undefined;
  /** Only record numbers the tenant does not have yet (automatic runs: never moves a number between credentials). */
  onlyNew?: boolean | undefined;
}

/**
 * Finds what a credential reaches and records it for its tenant: the WABAs from debug_token's granular scopes, their
 * phone numbers (stored with the credential id, so webhooks route and the Graph proxy allows them) and the app's
 * webhook subscription on each WABA. The one discovery for every path: Facebook Login, Embedded Signup, a pasted
 * system-user token, the re-discover button/endpoint and the health check's catch-up.
 *
 * A number another tenant already owns is skipped with a warning (the store refuses to move it too, atomically), so a
 * token shared by mistake cannot take a number away. Failures never throw: the credential stays stored, the failed
 * steps are reported (`complete: false`) and a later run fills the numbers in.
 */
export async function discoverAssets(
  ctx: BrokerContext,
  credential: Pick<CredentialRecord, 'id' | 'tenantId'>,
  options: DiscoveryOptions,
): Promise<Discovery> {
  const tenantId = credential.tenantId;
  const out: Discovery = { wabaIds: [], phoneNumbers: 0, skipped: [], warnings: [], complete: true };
  const fail = (what: string, err: unknown): void => {
    out.complete = false;
    out.warnings.push(`${what} failed: ${scrubText(String((err as Error)?.message ?? err))}`);
  };
  try {
    const token = options.token ?? (await ctx.manager.getToken(credential.id));
    let inspection = options.inspection;
    if (!inspection) {
      inspection = await createAuthClient({
        appId: ctx.appId,
        appSecret: ctx.appSecret,
        graph: ctx.graph,
      }).inspect(token);
    }
    if (!inspection.isValid) {
      out.complete = false;
      out.warnings.push(
        `debug_token says the token is not valid (${scrubText(inspection.error?.message ?? 'no reason given')})`,
      );
    } else {
      out.wabaIds = sharedWabaIds(inspection);
      if (out.wabaIds.length === 0)
        out.warnings.push(
          'the token names no WhatsApp Business Account (no target ids on whatsapp_business_management / ' +
            'whatsapp_business_messaging): no phone numbers recorded',
        );
      for (const wabaId of out.wabaIds)
        await discoverWaba(ctx, tenantId, credential.id, token, wabaId, options, out, fail);
    }
  } catch (err) {
    fail('debug_token', err);
  }
  ctx.access.invalidateTenant(tenantId);
  await ctx.audit(out.complete ? 'credential.discovered' : 'credential.discovery_incomplete', {
    tenantId,
    credentialId: credential.id,
    detail: {
      trigger: options.trigger,
      wabaIds: out.wabaIds,
      phoneNumbers: out.phoneNumbers,
      skipped: out.skipped.map((s) => s.phoneNumberId),
      warnings: out.warnings,
    },
  });
  return out;
}

async function discoverWaba(
  ctx: BrokerContext,
  tenantId: string,
  credentialId: string,
  token: Secret,
  wabaId: string,
  options: DiscoveryOptions,
  out: Discovery,
  fail: (what: string, err: unknown) => void,
): Promise<void> {
  let numbers: Awaited<ReturnType<typeof listWabaPhoneNumbers>>;
  try {
    numbers = await listWabaPhoneNumbers(ctx.graph, token, wabaId);
  } catch (err) {
    fail(`listing the numbers of WABA ${wabaId}`, err);
    return;
  }
  let ours = 0;
  for (const n of numbers) {
    const before = await ctx.store.phoneNumbers.get(n.id);
    if (before && before.tenantId !== tenantId) {
      skip(out, n.id, wabaId);
      continue;
    }
    ours++;
    if (before && options.onlyNew) continue;
    await ctx.store.phoneNumbers.upsert(
      {
        id: n.id,
        tenantId,
        wabaId,
        displayPhoneNumber: n.displayPhoneNumber ?? '',
        verifiedName: n.verifiedName ?? null,
        credentialId,
      },
      ctx.clock.now(),
    );
    // The store never moves a number between tenants; a concurrent discovery for another tenant may have won.
    if ((await ctx.store.phoneNumbers.get(n.id))?.tenantId !== tenantId) {
      ours--;
      skip(out, n.id, wabaId);
      continue;
    }
    out.phoneNumbers++;
  }
  // A WABA whose every number belongs to another tenant is theirs: leave its subscription alone.
  if (numbers.length > 0 && ours === 0) return;
  try {
    await subscribeAppToWaba(ctx.graph, token, wabaId);
  } catch (err) {
    fail(`subscribing the app to WABA ${wabaId}`, err);
  }
}

function skip(out: Discovery, phoneNumberId: string, wabaId: string): void {
  out.skipped.push({ phoneNumberId, wabaId, reason: 'owned-by-another-tenant' });
  out.warnings.push(
    `phone number ${phoneNumberId} (WABA ${wabaId}) belongs to another tenant: left with it, not recorded here`,
  );
}

export interface ConnectedAccount extends Discovery {
  credential: CredentialRecord;
}

/**
 * Stores a freshly obtained token for a tenant and discovers what it may reach ({@link discoverAssets}). A reconnect
 * of the same subject replaces the old credential's token (new version), so clients using it switch on their next
 * request.
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
      targetIds: [...new Set(inspection.granularScopes.flatMap((g) => g.targetIds ?? []))],
      subjectId: inspection.userId ?? null,
    });
    await ctx.audit('credential.connected', { tenantId, credentialId: credential.id, detail: { kind } });
  }
  const discovery = await discoverAssets(ctx, credential, { trigger: 'connect', token, inspection });
  return { credential, ...discovery };
}

/**
 * A pasted token (a system-user token from Business settings, or any token): checked with debug_token and stored
 * encrypted by the token manager (an unusable token throws and nothing is stored), then discovered. A discovery
 * failure does not undo the store: the result says what failed, and the re-discover action fills it in.
 */
export async function storePastedToken(
  ctx: BrokerContext,
  tenantId: string,
  token: Secret,
): Promise<ConnectedAccount> {
  const credential = await ctx.manager.addCredential({ tenantId, token });
  await ctx.audit('credential.pasted', {
    tenantId,
    credentialId: credential.id,
    detail: { kind: credential.kind },
  });
  const discovery = await discoverAssets(ctx, credential, { trigger: 'paste', token });
  return { credential, ...discovery };
}

/**
 * A `credential.checked` listener: a working credential with no phone number recorded for it (Graph was down when it
 * was added, or numbers were added at Meta since) is discovered again, recording only numbers the tenant lacks.
 */
export function rediscoverOnCheck(ctx: BrokerContext): (event: TokenEventOf<'credential.checked'>) => void {
  const running = new Set<string>();
  return (event) => {
    if (running.has(event.credentialId) || (event.status !== 'active' && event.status !== 'expiring')) return;
    running.add(event.credentialId);
    void (async () => {
      const numbers = await ctx.store.phoneNumbers.listByTenant(event.tenantId);
      if (numbers.some((n) => n.credentialId === event.credentialId)) return;
      await discoverAssets(
        ctx,
        { id: event.credentialId, tenantId: event.tenantId },
        { trigger: 'health-check', onlyNew: true },
      );
    })()
      .catch((err) => ctx.logger.error('rediscovery failed', { error: scrubText(String(err)) }))
      .finally(() => running.delete(event.credentialId));
  };
}

/** Where the sandbox's Embedded Signup dialog sends the code and the session info back. */
export const EMBEDDED_SIGNUP_CALLBACK = '/connect/embedded-signup/callback';

/**
 * Embedded Signup without Meta's JS SDK (the sandbox): the dialog with the Embedded Signup configuration and
 * `extras={"setup":{}}`, the way `FB.login` opens it, with a single-use state tied to the tenant. The emulator
 * answers on {@link EMBEDDED_SIGNUP_CALLBACK} with the code and the WA_EMBEDDED_SIGNUP session info.
 */
export function embeddedSignupFlowFor(ctx: BrokerContext): LoginFlow {
  if (!ctx.embeddedSignupConfigId)
    throw new WacloudError('CONFIG_INVALID', 'Embedded Signup needs WA_LOGIN_CONFIG_ID (a configuration id)');
  return new LoginFlow({
    auth: createAuthClient({ appId: ctx.appId, appSecret: ctx.appSecret, graph: ctx.graph }),
    redirectUri: `${ctx.publicUrl()}${EMBEDDED_SIGNUP_CALLBACK}`,
    configId: ctx.embeddedSignupConfigId,
    overrideDefaultResponseType: true,
    extras: { setup: {} },
    pkce: false,
    stateStore: ctx.store.oauthStates,
    dialogUrl: ctx.dialogUrl,
    apiVersion: ctx.apiVersion,
    clock: ctx.clock,
  });
}

/** The WA_EMBEDDED_SIGNUP FINISH message's data (facts §7), as far as the broker uses it. */
export interface EmbeddedSignupSession {
  wabaId?: string | undefined;
  phoneNumberId?: string | undefined;
  businessId?: string | undefined;
}

/**
 * Finishes Embedded Signup for a tenant (the API, the dashboard's JS SDK form and the sandbox callback): the code is
 * exchanged at once without redirect URI (it lives 30 seconds), the business integration token inspected, stored
 * encrypted and discovered like every other credential. A refused code (expired, used, another app's) throws and
 * nothing is stored. The session's WABA is used when the token's grant names none; a session phone number the
 * discovery did not record is reported as a warning.
 */
export async function connectEmbeddedSignup(
  ctx: BrokerContext,
  tenantId: string,
  input: { code: string; session?: EmbeddedSignupSession | undefined; pin?: string | undefined },
): Promise<ConnectedAccount> {
  const session = input.session ?? {};
  for (const [name, value] of Object.entries(session))
    if (value !== undefined && !/^\d{1,32}$/.test(value))
      throw new ValidationError('must be a numeric id', name);
  const result = await completeEmbeddedSignup({
    auth: createAuthClient({ appId: ctx.appId, appSecret: ctx.appSecret, graph: ctx.graph }),
    code: input.code,
    pin: input.pin,
    // Discovery subscribes the app to each WABA that is this tenant's.
    subscribe: false,
    wabaIds: session.wabaId ? [session.wabaId] : undefined,
  });
  const connected = await storeConnection(ctx, tenantId, result.token, result.kind, result.inspection);
  if (session.phoneNumberId) {
    const number = await ctx.store.phoneNumbers.get(session.phoneNumberId);
    if (number?.tenantId !== tenantId)
      connected.warnings.push(
        `the signup's phone number ${session.phoneNumberId} was not recorded for this tenant (not in the token's grant, or another tenant's)`,
      );
  }
  await ctx.audit('credential.embedded_signup', {
    tenantId,
    credentialId: connected.credential.id,
    detail: {
      wabaId: session.wabaId ?? null,
      phoneNumberId: session.phoneNumberId ?? null,
      businessId: session.businessId ?? null,
      wabaIds: connected.wabaIds,
      phoneNumbers: connected.phoneNumbers,
      warnings: connected.warnings,
    },
  });
  return connected;
}
