import type { TokenManager } from '../auth/token-manager.js';
import type { Clock } from '../core/clock.js';
import { type Secret, scrubText } from '../core/secret.js';
import { FlowKeyCustody, type FlowKeyView } from '../flows/key-custody.js';
import type { Transport } from '../transport/types.js';
import { WhatsApp } from '../whatsapp/whatsapp.js';
import type { BrokerStore } from './ports.js';

/**
 * Flow key custody for a tenant's numbers, with the tenant's stored credential (through the token manager, as the
 * proxy does): nobody handling keys holds a raw Meta token. One function for the API, the dashboard and the CLI.
 * Every step is audited (`flow_key.generated`, `.uploaded`, `.upload_failed`, `.rotated`, `.retired`); answers carry
 * public fields only, never a private key.
 */

export interface FlowKeyDeps {
  store: Pick<BrokerStore, 'phoneNumbers' | 'flowKeys'>;
  manager: Pick<TokenManager, 'tokenProvider' | 'listCredentials'>;
  clock: Clock;
  graphUrl?: string | undefined;
  apiVersion?: string | undefined;
  transport?: Transport | undefined;
  appSecret?: Secret | undefined;
  graceMs?: number | undefined;
  audit(event: string, fields: { tenantId: string; detail: Record<string, unknown> }): Promise<void>;
}

export type FlowKeyRefusal = 'not_found' | 'no_token' | 'already_active' | 'no_active_key' | 'unavailable';

/** Why a key operation was not started (nothing changed). */
export class FlowKeyRefusedError extends Error {
  constructor(
    readonly reason: FlowKeyRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'FlowKeyRefusedError';
  }
}

/** A key as answers show it: picked field by field, so nothing private can ride along. */
export interface PublicFlowKey {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  fingerprint: string;
  state: FlowKeyView['state'];
  metaStatus: string | null;
  retireAfterMs: number | null;
  uploadedAtMs: number | null;
  checkedAtMs: number | null;
  publicKeyPem: string;
}

export function publicFlowKey(
  k: FlowKeyView & { uploadedAtMs?: number | null; checkedAtMs?: number | null },
) {
  const view: PublicFlowKey = {
    id: k.id,
    tenantId: k.tenantId,
    phoneNumberId: k.phoneNumberId,
    fingerprint: k.fingerprint,
    state: k.state,
    metaStatus: k.metaStatus,
    retireAfterMs: k.retireAfterMs,
    uploadedAtMs: k.uploadedAtMs ?? null,
    checkedAtMs: k.checkedAtMs ?? null,
    publicKeyPem: k.publicKeyPem,
  };
  return view;
}

const keyDetail = (k: FlowKeyView) => ({
  phoneNumberId: k.phoneNumberId,
  keyId: k.id,
  fingerprint: k.fingerprint,
});

function keysOf(deps: FlowKeyDeps) {
  const flowKeys = deps.store.flowKeys;
  if (!flowKeys) throw new FlowKeyRefusedError('unavailable', 'this store keeps no flow keys');
  return flowKeys;
}

/** Retires keys past their grace period (erasing their private half), one audit entry each. */
export async function retireDueFlowKeys(deps: Pick<FlowKeyDeps, 'store' | 'clock' | 'audit'>) {
  const flowKeys = deps.store.flowKeys;
  if (!flowKeys) return [];
  const retired = await new FlowKeyCustody({ store: flowKeys, clock: deps.clock }).retireDue();
  for (const k of retired)
    await deps.audit('flow_key.retired', { tenantId: k.tenantId, detail: keyDetail(k) });
  return retired;
}

/** A tenant's keys, newest first (retiring ones past their grace period are retired first). */
export async function listFlowKeys(deps: FlowKeyDeps, tenantId: string): Promise<PublicFlowKey[]> {
  const flowKeys = keysOf(deps);
  await retireDueFlowKeys(deps);
  return (await flowKeys.listByTenant(tenantId)).map(publicFlowKey);
}

/** One of the tenant's numbers (another tenant's is `not_found`) and the credential that serves it. */
async function tenantNumber(deps: FlowKeyDeps, tenantId: string, phoneNumberId: string) {
  const number = /^\d{1,32}$/.test(phoneNumberId)
    ? await deps.store.phoneNumbers.get(phoneNumberId)
    : undefined;
  if (!number || number.tenantId !== tenantId)
    throw new FlowKeyRefusedError('not_found', 'phone number not found');
  const credentialId =
    number.credentialId ??
    (await deps.manager.listCredentials(tenantId)).find(
      (c) => c.status === 'active' || c.status === 'expiring',
    )?.id;
  if (!credentialId)
    throw new FlowKeyRefusedError('no_token', 'the tenant has no working token: reconnect it');
  return credentialId;
}

function custodyOf(deps: FlowKeyDeps) {
  return new FlowKeyCustody({
    store: keysOf(deps),
    clock: deps.clock,
    ...(deps.graceMs !== undefined ? { graceMs: deps.graceMs } : {}),
  });
}

/** Uploads `key` with the tenant's credential and activates it; the number's previous active key starts retiring. */
async function uploadWithCredential(
  deps: FlowKeyDeps,
  tenantId: string,
  credentialId: string,
  key: FlowKeyView,
): Promise<{ key: PublicFlowKey; retiring: PublicFlowKey | undefined }> {
  const flowKeys = keysOf(deps);
  const phoneNumberId = key.phoneNumberId;
  const previous = (await flowKeys.listByPhone(phoneNumberId)).find((k) => k.state === 'active');
  const wa = new WhatsApp({
    tokenProvider: deps.manager.tokenProvider(credentialId),
    phoneNumberId,
    ...(deps.appSecret ? { appSecret: deps.appSecret } : {}),
    ...(deps.graphUrl ? { graphUrl: deps.graphUrl } : {}),
    ...(deps.apiVersion ? { apiVersion: deps.apiVersion } : {}),
    ...(deps.transport ? { transport: deps.transport } : {}),
    clock: deps.clock,
    retry: { maxAttempts: 1 },
    configSource: { env: {}, envFile: false },
  });
  let active: FlowKeyView;
  try {
    active = await custodyOf(deps).upload(phoneNumberId, wa.flows, key.id);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await deps.audit('flow_key.upload_failed', {
      tenantId,
      detail: { ...keyDetail(key), error: scrubText(message).slice(0, 300) },
    });
    throw error;
  } finally {
    await wa.close();
  }
  await deps.audit('flow_key.uploaded', {
    tenantId,
    detail: { ...keyDetail(active), metaStatus: active.metaStatus },
  });
  if (!previous || previous.id === active.id) return { key: publicFlowKey(active), retiring: undefined };
  const after = (await flowKeys.listByPhone(phoneNumberId)).find((k) => k.id === previous.id);
  const retiring = publicFlowKey(after ?? previous);
  await deps.audit('flow_key.rotated', {
    tenantId,
    detail: { ...keyDetail(active), previousKeyId: previous.id, retireAfterMs: retiring.retireAfterMs },
  });
  return { key: publicFlowKey(active), retiring };
}

/**
 * Generates a 2048-bit pair for one of the tenant's numbers, uploads the public key with the tenant's credential and
 * activates it once Meta holds it (`VALID`). `first` refuses a number that has an active key; `rotate` needs one, which
 * then keeps decrypting for the grace period; `auto` is whichever applies. Another tenant's number is `not_found`.
 */
export async function provisionFlowKey(
  deps: FlowKeyDeps,
  tenantId: string,
  phoneNumberId: string,
  mode: 'first' | 'rotate' | 'auto',
): Promise<{ key: PublicFlowKey; retiring: PublicFlowKey | undefined }> {
  const flowKeys = keysOf(deps);
  const credentialId = await tenantNumber(deps, tenantId, phoneNumberId);
  await retireDueFlowKeys(deps);
  const active = (await flowKeys.listByPhone(phoneNumberId)).some((k) => k.state === 'active');
  if (mode === 'first' && active)
    throw new FlowKeyRefusedError(
      'already_active',
      `${phoneNumberId} has an active flow key: rotate it instead`,
    );
  if (mode === 'rotate' && !active)
    throw new FlowKeyRefusedError('no_active_key', `${phoneNumberId} has no active flow key to rotate`);
  const fresh = await custodyOf(deps).generate(tenantId, phoneNumberId);
  await deps.audit('flow_key.generated', { tenantId, detail: keyDetail(fresh) });
  return uploadWithCredential(deps, tenantId, credentialId, fresh);
}

/** Uploads the number's newest pending key (or `keyId`) with the tenant's credential (`wacloud flows upload-key`). */
export async function uploadPendingFlowKey(
  deps: FlowKeyDeps,
  tenantId: string,
  phoneNumberId: string,
  keyId?: string,
): Promise<{ key: PublicFlowKey; retiring: PublicFlowKey | undefined }> {
  const credentialId = await tenantNumber(deps, tenantId, phoneNumberId);
  const all = await keysOf(deps).listByPhone(phoneNumberId);
  const key = keyId
    ? all.find((k) => k.id === keyId && k.state === 'pending')
    : all.find((k) => k.state === 'pending');
  if (!key)
    throw new FlowKeyRefusedError('not_found', `no pending flow key for ${phoneNumberId}: run keygen first`);
  return uploadWithCredential(deps, tenantId, credentialId, key);
}

/** The broker's dependencies as a {@link FlowKeyDeps} (the API and the dashboard share it). */
export function brokerFlowKeyDeps(ctx: {
  store: BrokerStore;
  manager: TokenManager;
  clock: Clock;
  graphUrl: string;
  apiVersion: string;
  transport: Transport;
  appSecret: Secret;
  audit: FlowKeyDeps['audit'];
}): FlowKeyDeps {
  return {
    store: ctx.store,
    manager: ctx.manager,
    clock: ctx.clock,
    graphUrl: ctx.graphUrl,
    apiVersion: ctx.apiVersion,
    transport: ctx.transport,
    appSecret: ctx.appSecret,
    audit: (event, fields) => ctx.audit(event, fields),
  };
}
