import { ValidationError } from '../core/errors.js';
import type { Secret } from '../core/secret.js';
import type { GraphClient } from '../graph/graph-client.js';
import type { AuthClient, TokenResponse } from './auth-client.js';
import type { CredentialKind } from './credential-store.js';
import { assertUsable } from './login-flow.js';
import { credentialKindOf, type TokenInspection, targetIdsFor } from './token-inspection.js';

const WA_SCOPES = ['whatsapp_business_management', 'whatsapp_business_messaging'] as const;

/**
 * The WABAs an Embedded Signup token was granted (the target ids of its WhatsApp granular scopes), in first-seen
 * order. Empty when the grant is not asset-restricted.
 */
export function sharedWabaIds(inspection: TokenInspection): string[] {
  const out = new Set<string>();
  for (const scope of WA_SCOPES) for (const id of targetIdsFor(inspection, scope) ?? []) out.add(id);
  return [...out];
}

export interface WabaPhoneNumber {
  id: string;
  displayPhoneNumber: string | undefined;
  verifiedName: string | undefined;
}

/** `GET /{waba-id}/phone_numbers` with `token`, every page. */
export async function listWabaPhoneNumbers(
  graph: GraphClient,
  token: Secret,
  wabaId: string,
): Promise<WabaPhoneNumber[]> {
  checkId(wabaId, 'wabaId');
  const out: WabaPhoneNumber[] = [];
  let after: string | undefined;
  // Bounded: a WABA has at most a few dozen numbers; 50 pages would be a Graph bug, not a real account.
  for (let page = 0; page < 50; page++) {
    const res = await graph.get<{
      data?: { id?: string; display_phone_number?: string; verified_name?: string }[];
      paging?: { cursors?: { after?: string }; next?: string };
    }>(
      `${wabaId}/phone_numbers`,
      { fields: 'id,display_phone_number,verified_name', limit: 100, after },
      { token },
    );
    for (const n of res.data ?? []) {
      if (typeof n.id === 'string') {
        out.push({ id: n.id, displayPhoneNumber: n.display_phone_number, verifiedName: n.verified_name });
      }
    }
    after = res.paging?.next ? res.paging.cursors?.after : undefined;
    if (!after) break;
  }
  return out;
}

/** `POST /{waba-id}/subscribed_apps`: this app receives the WABA's webhooks. */
export async function subscribeAppToWaba(graph: GraphClient, token: Secret, wabaId: string): Promise<void> {
  checkId(wabaId, 'wabaId');
  await graph.post(`${wabaId}/subscribed_apps`, undefined, { token });
}

/** `POST /{phone-number-id}/register` with a 6-digit PIN (it becomes the number's two-step verification PIN). */
export async function registerPhoneNumber(
  graph: GraphClient,
  token: Secret,
  phoneNumberId: string,
  pin: string,
): Promise<void> {
  checkId(phoneNumberId, 'phoneNumberId');
  if (!/^\d{6}$/.test(pin)) throw new ValidationError('must be 6 digits', 'pin');
  await graph.post(`${phoneNumberId}/register`, { messaging_product: 'whatsapp', pin }, { token });
}

export interface EmbeddedSignupOptions {
  auth: AuthClient;
  /** The code from `FB.login` (lives 30 seconds: exchange it at once). */
  code: string;
  /** Register every shared number with this PIN. Leave out to skip registration. */
  pin?: string | undefined;
  /** Subscribe the app to each shared WABA (default true). */
  subscribe?: boolean | undefined;
  /** WABA ids from the `WA_EMBEDDED_SIGNUP` message event, used when the token's grant names none. */
  wabaIds?: readonly string[] | undefined;
}

export interface EmbeddedSignupStep {
  ok: boolean;
  /** A scrubbed message when the step failed. */
  error?: string | undefined;
}

export interface EmbeddedSignupWaba {
  id: string;
  phoneNumbers: (WabaPhoneNumber & { registered: EmbeddedSignupStep | undefined })[];
  listed: EmbeddedSignupStep;
  subscribed: EmbeddedSignupStep | undefined;
}

export interface EmbeddedSignupResult {
  token: Secret;
  kind: CredentialKind;
  inspection: TokenInspection;
  codeToken: TokenResponse;
  wabas: EmbeddedSignupWaba[];
  /** True when every step that was asked for succeeded. */
  complete: boolean;
}

/**
 * The server side of Embedded Signup (graph-api-facts.md §7): exchange the code (no redirect URI), inspect the
 * business token, find the shared WABAs from its granular scopes, list their numbers, subscribe the app to each WABA
 * and register each number with a PIN.
 *
 * A failed exchange or inspection throws (nothing happened). After that the token is valid whatever else fails, so
 * later steps report per WABA and per number instead of throwing: the caller stores the token and can retry the
 * failed steps with the exported step functions.
 *
 * @see https://developers.facebook.com/documentation/business-messaging/whatsapp/embedded-signup/onboarding-customers-as-a-tech-provider
 */
export async function completeEmbeddedSignup(options: EmbeddedSignupOptions): Promise<EmbeddedSignupResult> {
  if (options.pin !== undefined && !/^\d{6}$/.test(options.pin)) {
    throw new ValidationError('must be 6 digits', 'pin');
  }
  const { auth } = options;
  const graph = auth.graph;
  const codeToken = await auth.exchangeCode({ code: options.code });
  const token = codeToken.accessToken;
  const inspection = await auth.inspect(token);
  assertUsable(inspection, auth.appId);
  const kind =
    credentialKindOf(inspection, graph.clock.now(), 'business-integration') ?? 'business-integration';
  const wabaIds = sharedWabaIds(inspection);
  for (const id of options.wabaIds ?? []) if (!wabaIds.includes(id)) wabaIds.push(id);
  const wabas: EmbeddedSignupWaba[] = [];
  let complete = true;
  for (const wabaId of wabaIds) {
    const waba: EmbeddedSignupWaba = {
      id: wabaId,
      phoneNumbers: [],
      listed: { ok: true },
      subscribed: undefined,
    };
    wabas.push(waba);
    if (options.subscribe !== false) {
      waba.subscribed = await step(() => subscribeAppToWaba(graph, token, wabaId));
      complete &&= waba.subscribed.ok;
    }
    let numbers: WabaPhoneNumber[] = [];
    const listed = await step(async () => {
      numbers = await listWabaPhoneNumbers(graph, token, wabaId);
    });
    waba.listed = listed;
    complete &&= listed.ok;
    for (const n of numbers) {
      const registered =
        options.pin === undefined
          ? undefined
          : await step(() => registerPhoneNumber(graph, token, n.id, options.pin as string));
      if (registered) complete &&= registered.ok;
      waba.phoneNumbers.push({ ...n, registered });
    }
  }
  return { token, kind, inspection, codeToken, wabas, complete };
}

async function step(fn: () => Promise<void>): Promise<EmbeddedSignupStep> {
  try {
    await fn();
    return { ok: true };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
}

function checkId(value: string, name: string): void {
  if (!/^\d{1,32}$/.test(value ?? '')) throw new ValidationError('must be a numeric id', name);
}
