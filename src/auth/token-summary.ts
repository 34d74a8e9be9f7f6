import { type Secret, scrubText } from '../core/secret.js';
import type { CredentialKind } from './credential-store.js';
import { allTargetIds, describeTokenSubcode, type TokenInspection } from './token-inspection.js';

const KIND_TEXT: Record<CredentialKind, string> = {
  temporary: 'temporary user token (24 hours)',
  'user-short': 'short-lived user token (1-2 hours)',
  'user-long': 'long-lived user token (about 60 days, cannot be extended)',
  'system-user': 'system-user token',
  'business-integration': 'business integration system-user token',
  page: 'page token',
  app: 'app token',
};

/** `•••• (212 chars, sha256:3f2a9c1b)`: enough to tell tokens apart, nothing of the value. */
export function maskToken(token: Secret): string {
  return `•••••••• (${token.length} chars, sha256:${token.fingerprint})`;
}

function when(ms: number | null, nowMs: number): string {
  if (ms === null) return 'never';
  const iso = new Date(ms).toISOString().replace('.000Z', 'Z');
  const delta = ms - nowMs;
  const abs = Math.abs(delta);
  const span =
    abs >= 86_400_000
      ? `${Math.round(abs / 86_400_000)} days`
      : abs >= 3_600_000
        ? `${Math.round(abs / 3_600_000)} hours`
        : `${Math.max(1, Math.round(abs / 60_000))} minutes`;
  return `${iso} (${delta >= 0 ? `in ${span}` : `${span} ago`})`;
}

/** A machine-readable summary: every field of the inspection, the token masked. */
export function tokenSummaryJson(
  inspection: TokenInspection,
  token: Secret,
  kind: CredentialKind | undefined,
): Record<string, unknown> {
  return {
    token: { length: token.length, sha256: token.fingerprint },
    kind: kind ?? null,
    type: inspection.type ?? null,
    valid: inspection.isValid,
    appId: inspection.appId ?? null,
    application: inspection.application ?? null,
    userId: inspection.userId ?? null,
    issuedAt: inspection.issuedAtMs === null ? null : new Date(inspection.issuedAtMs).toISOString(),
    expiresAt: inspection.expiresAtMs === null ? null : new Date(inspection.expiresAtMs).toISOString(),
    dataAccessExpiresAt:
      inspection.dataAccessExpiresAtMs === null
        ? null
        : new Date(inspection.dataAccessExpiresAtMs).toISOString(),
    scopes: inspection.scopes,
    granularScopes: inspection.granularScopes,
    targetIds: allTargetIds(inspection),
    error: inspection.error ?? null,
  };
}

/** A short, aligned, human summary of an inspected token. The token is shown masked. */
export function formatTokenSummary(
  inspection: TokenInspection,
  token: Secret,
  kind: CredentialKind | undefined,
  nowMs: number,
): string {
  const rows: [string, string][] = [];
  rows.push(['valid', inspection.isValid ? 'yes' : `NO: ${describeTokenSubcode(inspection.error?.subcode)}`]);
  rows.push(['kind', kind ? KIND_TEXT[kind] : (inspection.type ?? 'unknown')]);
  rows.push(['token', maskToken(token)]);
  if (inspection.application || inspection.appId) {
    rows.push([
      'app',
      `${inspection.application ?? ''}${inspection.appId ? ` (${inspection.appId})` : ''}`.trim(),
    ]);
  }
  if (inspection.userId) rows.push(['user', inspection.userId]);
  rows.push(['expires', when(inspection.expiresAtMs, nowMs)]);
  if (inspection.dataAccessExpiresAtMs !== null) {
    rows.push(['data access', when(inspection.dataAccessExpiresAtMs, nowMs)]);
  }
  rows.push(['scopes', inspection.scopes.length ? inspection.scopes.join(', ') : '(none)']);
  const targets = allTargetIds(inspection);
  if (targets.length) rows.push(['assets', targets.join(', ')]);
  if (!inspection.isValid && inspection.error?.message)
    rows.push(['error', scrubText(inspection.error.message)]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}
