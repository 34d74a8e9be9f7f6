import type { CredentialRecord } from '../auth/credential-store.js';
import type { TokenPolicies } from '../auth/token-manager.js';
import { type CredentialView, formatTime } from './dashboard/pages.js';

const DAY = 86_400_000;

/** Metadata a client may see about a credential: never the token, its ciphertext or a fingerprint of it. */
export function credentialMetadata(c: CredentialRecord) {
  return {
    id: c.id,
    tenantId: c.tenantId,
    kind: c.kind,
    status: c.status,
    version: c.version,
    appId: c.appId,
    subjectId: c.subjectId,
    scopes: c.scopes,
    targetIds: c.targetIds,
    issuedAt: c.issuedAtMs === null ? null : new Date(c.issuedAtMs).toISOString(),
    expiresAt: c.expiresAtMs === null ? null : new Date(c.expiresAtMs).toISOString(),
    dataAccessExpiresAt:
      c.dataAccessExpiresAtMs === null ? null : new Date(c.dataAccessExpiresAtMs).toISOString(),
    nextCheckAt: new Date(c.nextCheckAtMs).toISOString(),
    failures: c.failures,
    lastError: c.lastError,
  };
}

/** What happens next to a credential, in words, and whether a person must act. */
export function nextActionOf(
  c: CredentialRecord,
  nowMs: number,
  policies: Pick<TokenPolicies, 'renewBeforeExpiryMs' | 'expiryWarningsMs'>,
): { text: string; needsReconnect: boolean } {
  if (c.status === 'invalid' || c.status === 'revoked' || c.status === 'expired') {
    return { text: `This token no longer works (${c.status}): reconnect now.`, needsReconnect: true };
  }
  const renewable = (c.kind === 'system-user' || c.kind === 'business-integration') && c.expiresAtMs !== null;
  if (renewable && c.expiresAtMs !== null) {
    return {
      text: `Renews automatically around ${formatTime(c.expiresAtMs - policies.renewBeforeExpiryMs)}.`,
      needsReconnect: false,
    };
  }
  if (c.kind === 'user-short' || c.kind === 'temporary') {
    return { text: 'Being exchanged for a long-lived token.', needsReconnect: false };
  }
  const deadline = Math.min(
    c.expiresAtMs ?? Number.POSITIVE_INFINITY,
    c.dataAccessExpiresAtMs ?? Number.POSITIVE_INFINITY,
  );
  if (deadline === Number.POSITIVE_INFINITY) {
    return { text: 'Never expires; checked daily with debug_token.', needsReconnect: false };
  }
  const warnFrom = deadline - Math.max(...policies.expiryWarningsMs, 7 * DAY);
  if (c.status === 'expiring' || nowMs >= warnFrom) {
    return {
      text: `Meta does not renew this token: reconnect before ${formatTime(deadline)}.`,
      needsReconnect: true,
    };
  }
  return {
    text: `Meta does not renew this token; you will be asked to reconnect from ${formatTime(warnFrom)}.`,
    needsReconnect: false,
  };
}

export function credentialView(
  c: CredentialRecord,
  nowMs: number,
  policies: Pick<TokenPolicies, 'renewBeforeExpiryMs' | 'expiryWarningsMs'>,
): CredentialView {
  const next = nextActionOf(c, nowMs, policies);
  return {
    id: c.id,
    kind: c.kind,
    status: c.status,
    version: c.version,
    issuedAtMs: c.issuedAtMs,
    expiresAtMs: c.expiresAtMs,
    dataAccessExpiresAtMs: c.dataAccessExpiresAtMs,
    nextCheckAtMs: c.nextCheckAtMs,
    lastError: c.lastError,
    nextAction: next.text,
    needsReconnect: next.needsReconnect,
    scopes: c.scopes,
  };
}
