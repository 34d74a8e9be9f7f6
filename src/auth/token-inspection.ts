import { WacloudError } from '../core/errors.js';
import type { CredentialKind } from './credential-store.js';

/** What kind of token `debug_token` describes. `unknown` when Graph sends a type we have not seen. */
export type InspectedTokenKind = 'user' | 'system-user' | 'page' | 'app' | 'business-integration' | 'unknown';

export interface GranularScope {
  scope: string;
  /** Asset ids the grant is limited to (WABAs for WhatsApp scopes); null when not asset-restricted. */
  targetIds: string[] | null;
}

/** Why `debug_token` says a token does not work (its nested `error`). */
export interface TokenInspectionError {
  message: string;
  code: number | undefined;
  /** Graph's `subcode` (debug_token nests `subcode`, not `error_subcode`). */
  subcode: number | undefined;
}

/**
 * A typed `debug_token` result. Times are ms since the epoch; `null` means "never" (Graph sends 0).
 *
 * @see https://developers.facebook.com/docs/graph-api/reference/debug_token
 */
export interface TokenInspection {
  kind: InspectedTokenKind;
  /** Graph's raw `type` (USER, SYSTEM_USER, PAGE, APP, ...). */
  type: string | undefined;
  isValid: boolean;
  appId: string | undefined;
  application: string | undefined;
  /** The user or system user the token belongs to. */
  userId: string | undefined;
  /** Page tokens: the page. */
  profileId: string | undefined;
  issuedAtMs: number | null;
  expiresAtMs: number | null;
  dataAccessExpiresAtMs: number | null;
  scopes: string[];
  granularScopes: GranularScope[];
  error: TokenInspectionError | undefined;
}

/** The `data` object of a debug_token response (wire shape). */
export interface DebugTokenData {
  app_id?: string | number;
  type?: string;
  application?: string;
  data_access_expires_at?: number;
  expires_at?: number;
  issued_at?: number;
  is_valid?: boolean;
  scopes?: string[];
  granular_scopes?: { scope?: string; target_ids?: (string | number)[] }[];
  user_id?: string | number;
  profile_id?: string | number;
  error?: { message?: string; code?: number; subcode?: number; error_subcode?: number };
  metadata?: Record<string, unknown>;
}

const KIND_BY_TYPE: Record<string, InspectedTokenKind> = {
  USER: 'user',
  SYSTEM_USER: 'system-user',
  PAGE: 'page',
  APP: 'app',
  BUSINESS_INTEGRATION: 'business-integration',
  BUSINESS: 'business-integration',
};

function secondsToMs(value: unknown): number | null {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return null;
  return value * 1000;
}

function idOf(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/**
 * Parses a `debug_token` response (`{ data: {...} }` or the bare `data`) into a {@link TokenInspection}. Lenient about
 * what Meta leaves out (granular scopes, issued_at), strict about the shape.
 */
export function parseDebugToken(body: unknown): TokenInspection {
  const data =
    body && typeof body === 'object' && 'data' in body ? (body as { data: unknown }).data : (body as unknown);
  if (!data || typeof data !== 'object' || Array.isArray(data)) {
    throw new WacloudError('GRAPH', 'debug_token answered without a data object');
  }
  const d = data as DebugTokenData;
  const type = typeof d.type === 'string' ? d.type : undefined;
  const granular: GranularScope[] = [];
  if (Array.isArray(d.granular_scopes)) {
    for (const g of d.granular_scopes) {
      if (!g || typeof g.scope !== 'string') continue;
      granular.push({
        scope: g.scope,
        targetIds: Array.isArray(g.target_ids)
          ? g.target_ids.map((t) => idOf(t)).filter((t): t is string => t !== undefined)
          : null,
      });
    }
  }
  const err = d.error && typeof d.error === 'object' ? d.error : undefined;
  return {
    kind: type ? (KIND_BY_TYPE[type.toUpperCase()] ?? 'unknown') : 'unknown',
    type,
    isValid: d.is_valid === true,
    appId: idOf(d.app_id),
    application: typeof d.application === 'string' ? d.application : undefined,
    userId: idOf(d.user_id),
    profileId: idOf(d.profile_id),
    issuedAtMs: secondsToMs(d.issued_at),
    expiresAtMs: secondsToMs(d.expires_at),
    dataAccessExpiresAtMs: secondsToMs(d.data_access_expires_at),
    scopes: Array.isArray(d.scopes) ? d.scopes.filter((s): s is string => typeof s === 'string') : [],
    granularScopes: granular,
    error: err
      ? {
          message: typeof err.message === 'string' ? err.message : 'token is not valid',
          code: typeof err.code === 'number' ? err.code : undefined,
          subcode:
            typeof err.subcode === 'number'
              ? err.subcode
              : typeof err.error_subcode === 'number'
                ? err.error_subcode
                : undefined,
        }
      : undefined,
  };
}

/**
 * Asset ids a token was granted for `scope` (for an Embedded Signup token: the shared WABAs). Undefined when the
 * grant is not asset-restricted or the scope was not granted.
 */
export function targetIdsFor(inspection: TokenInspection, scope: string): string[] | undefined {
  const g = inspection.granularScopes.find((s) => s.scope === scope);
  return g?.targetIds ?? undefined;
}

/** Every distinct target id across the granular scopes, in first-seen order. */
export function allTargetIds(inspection: TokenInspection): string[] {
  const out = new Set<string>();
  for (const g of inspection.granularScopes) for (const id of g.targetIds ?? []) out.add(id);
  return [...out];
}

/** Token-state subcodes of 190 that mean the token will never work again (design.md "States"). */
export const INVALIDATING_SUBCODES: ReadonlySet<number> = new Set([458, 459, 460, 464, 467, 492, 493]);

/** Human text for a 190 subcode, for events and summaries. */
export function describeTokenSubcode(subcode: number | undefined): string {
  switch (subcode) {
    case 458:
      return 'the app was removed or is not installed for this user';
    case 459:
      return 'the user is checkpointed and must log in at facebook.com';
    case 460:
      return 'the password was changed or the session was invalidated';
    case 463:
      return 'the token has expired';
    case 464:
      return 'the user is unconfirmed';
    case 467:
      return 'the token was revoked or the user logged out';
    case 492:
      return 'the session is invalid (the user may have lost a role)';
    case 493:
      return 'data access expired (no use of the app in 90 days)';
    default:
      return 'the token is invalid';
  }
}

const HOUR_MS = 3_600_000;

/**
 * The credential kind (design.md "Token lifecycle") of an inspected token. User tokens are told apart by lifetime:
 * up to 4 h a Login short-lived token, up to ~25 h the dashboard's temporary token, longer a long-lived token.
 * Graph has no separate type for business-integration tokens in its samples; pass `hint` when the flow knows.
 */
export function credentialKindOf(
  inspection: TokenInspection,
  nowMs: number,
  hint?: CredentialKind,
): CredentialKind | undefined {
  switch (inspection.kind) {
    case 'system-user':
      return hint === 'business-integration' ? hint : 'system-user';
    case 'business-integration':
      return 'business-integration';
    case 'page':
      return 'page';
    case 'app':
      return 'app';
    case 'user': {
      const exp = inspection.expiresAtMs;
      if (exp === null) return 'user-long';
      // Long-lived tokens carry issued_at (S-DBG); otherwise judge by what is left.
      const from = inspection.issuedAtMs ?? nowMs;
      const lifetime = exp - from;
      if (lifetime <= 4 * HOUR_MS) return 'user-short';
      if (lifetime <= 25 * HOUR_MS) return 'temporary';
      return 'user-long';
    }
    default:
      return hint;
  }
}
