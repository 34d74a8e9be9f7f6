import { WacloudError } from '../core/errors.js';
import type { CredentialRecord, CredentialStatus } from './credential-store.js';

/**
 * The renewal policy as pure functions: given a credential, the policies and "now", what to do and when to look
 * again. No I/O, no clock, no randomness of its own (jitter comes in as a number), so every rule is unit-tested
 * directly (token-policy.test.ts); the token manager only carries out what these functions decide.
 */

export const DAY_MS = 86_400_000;
/** "Never": the largest time a JS Date can hold (fits a BIGINT column). */
export const NEVER_MS = 8_640_000_000_000_000;

/** Per-kind policies (design.md "Token lifecycle"). All durations in ms. */
export interface TokenPolicies {
  /** Renew 60-day system-user / business-integration tokens this long before they expire. Default 10 days. */
  renewBeforeExpiryMs: number;
  /** `debug_token` health check interval for every credential. Default 24 h (Meta recommends at least daily). */
  healthCheckIntervalMs: number;
  /**
   * Early warnings (`credential.expiring`) this long before an expiry that cannot be renewed (long-lived user tokens,
   * data access), or whose renewal keeps failing. Default 7 days, 3 days, 1 day.
   */
  expiryWarningsMs: number[];
  /** Exchange short-lived user tokens (and the dashboard's 24-hour temporary token) for long-lived ones at once. */
  exchangeShortLived: boolean;
  /** Back-off after a failed renewal or check: `retryBaseMs * 2^(failures-1)`, capped, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a scheduler lease holds a credential. Default 2 minutes. */
  leaseMs: number;
  /** Credentials claimed per sweep. Default 100. */
  batchSize: number;
  /** Credentials processed at once within a sweep. Default 4. */
  concurrency: number;
  /** How often the scheduler asks the store for work that other instances scheduled. Default 60 s. */
  pollIntervalMs: number;
  /**
   * Last resort when a rotation notice from another instance was lost: a cached token older than this is re-read
   * from the store in the background on its next use (the call itself is served from memory). Default 5 minutes.
   */
  cacheTtlMs: number;
}

export const DEFAULT_TOKEN_POLICIES: Readonly<TokenPolicies> = Object.freeze({
  renewBeforeExpiryMs: 10 * DAY_MS,
  healthCheckIntervalMs: DAY_MS,
  expiryWarningsMs: [7 * DAY_MS, 3 * DAY_MS, DAY_MS],
  exchangeShortLived: true,
  retryBaseMs: 60_000,
  retryMaxMs: 3_600_000,
  leaseMs: 120_000,
  batchSize: 100,
  concurrency: 4,
  pollIntervalMs: 60_000,
  cacheTtlMs: 300_000,
});

const POSITIVE_POLICIES = [
  'renewBeforeExpiryMs',
  'healthCheckIntervalMs',
  'retryBaseMs',
  'retryMaxMs',
  'leaseMs',
  'batchSize',
  'concurrency',
  'pollIntervalMs',
  'cacheTtlMs',
] as const;

/** Defaults filled in, warnings sorted longest first, every duration and count checked positive. */
export function resolvePolicies(given: Partial<TokenPolicies> = {}): Readonly<TokenPolicies> {
  const policies = { ...DEFAULT_TOKEN_POLICIES, ...given };
  policies.expiryWarningsMs = [...policies.expiryWarningsMs].filter((w) => w > 0).sort((a, b) => b - a);
  for (const key of POSITIVE_POLICIES) {
    if (!Number.isFinite(policies[key]) || policies[key] <= 0) {
      throw new WacloudError('CONFIG_INVALID', `policies.${key} must be a positive number`);
    }
  }
  return Object.freeze(policies);
}

const TERMINAL: ReadonlySet<CredentialStatus> = new Set(['invalid', 'expired', 'revoked']);

/** Invalid, expired and revoked credentials stay so: Meta never revives a dead token. */
export function isTerminal(status: CredentialStatus): boolean {
  return TERMINAL.has(status);
}

export type RenewMethod = 'exchange-short-lived' | 'renew-60-day';
type Timing = Pick<CredentialRecord, 'kind' | 'expiresAtMs' | 'dataAccessExpiresAtMs'>;

/** How a credential can be renewed, if at all. */
export function renewMethodOf(rec: Pick<CredentialRecord, 'kind' | 'expiresAtMs'>): RenewMethod | undefined {
  if (rec.kind === 'user-short' || rec.kind === 'temporary') return 'exchange-short-lived';
  if ((rec.kind === 'system-user' || rec.kind === 'business-integration') && rec.expiresAtMs !== null) {
    return 'renew-60-day';
  }
  return undefined;
}

/** When a credential should be renewed (0: at once), or undefined when it is not renewed. */
export function renewAt(
  policies: TokenPolicies,
  rec: Pick<CredentialRecord, 'kind' | 'expiresAtMs'>,
): number | undefined {
  const method = renewMethodOf(rec);
  if (method === 'exchange-short-lived') return policies.exchangeShortLived ? 0 : undefined;
  if (method === 'renew-60-day' && rec.expiresAtMs !== null)
    return rec.expiresAtMs - policies.renewBeforeExpiryMs;
  return undefined;
}

/** Retry delay after `failures` consecutive failures: exponential, capped, with jitter from `random01` in [0, 1). */
export function backoffMs(policies: TokenPolicies, failures: number, random01: number): number {
  const ceiling = Math.min(policies.retryMaxMs, policies.retryBaseMs * 2 ** Math.max(0, failures - 1));
  return Math.floor(ceiling * (0.5 + random01 / 2));
}

/** The status a live credential has at `now` (terminal states are kept). */
export function statusAt(
  policies: TokenPolicies,
  rec: Timing & Pick<CredentialRecord, 'status'>,
  now: number,
): CredentialStatus {
  if (isTerminal(rec.status)) return rec.status;
  if (rec.expiresAtMs !== null && now >= rec.expiresAtMs) return 'expired';
  const window = policies.expiryWarningsMs[0] ?? 0;
  const renewal = renewAt(policies, rec);
  if (
    rec.expiresAtMs !== null &&
    rec.expiresAtMs - now <= window &&
    (renewal === undefined || now >= renewal)
  ) {
    return 'expiring';
  }
  if (rec.dataAccessExpiresAtMs !== null && rec.dataAccessExpiresAtMs - now <= window) return 'expiring';
  return 'active';
}

export interface WarningBoundary {
  at: number;
  which: 'token' | 'data-access';
  expiresAtMs: number;
}

/** Warning boundaries (times) of a credential, with what they are about. */
export function warningBoundaries(policies: TokenPolicies, rec: Timing): WarningBoundary[] {
  const out: WarningBoundary[] = [];
  const renewal = renewAt(policies, rec);
  if (rec.expiresAtMs !== null) {
    for (const w of policies.expiryWarningsMs) {
      const at = rec.expiresAtMs - w;
      // A renewable token is warned about only once its renewal is overdue.
      if (renewal === undefined || at >= renewal)
        out.push({ at, which: 'token', expiresAtMs: rec.expiresAtMs });
    }
  }
  // Data access matters when it ends before the token does.
  const da = rec.dataAccessExpiresAtMs;
  if (da !== null && (rec.expiresAtMs === null || da < rec.expiresAtMs)) {
    for (const w of policies.expiryWarningsMs)
      out.push({ at: da - w, which: 'data-access', expiresAtMs: da });
  }
  return out;
}

/**
 * When to look at a credential next: the earliest of its health check, renewal time, warning boundaries and expiry.
 * `retryAtMs` replaces a renewal that is already due (after a failure).
 */
export function nextCheckAt(
  policies: TokenPolicies,
  rec: Timing & Pick<CredentialRecord, 'status'>,
  now: number,
  retryAtMs?: number,
): number {
  if (isTerminal(rec.status)) return NEVER_MS;
  let next = now + policies.healthCheckIntervalMs;
  const renewal = renewAt(policies, rec);
  if (renewal !== undefined) next = Math.min(next, renewal <= now ? (retryAtMs ?? now) : renewal);
  else if (retryAtMs !== undefined) next = Math.min(next, retryAtMs);
  if (rec.expiresAtMs !== null && rec.expiresAtMs > now) next = Math.min(next, rec.expiresAtMs);
  if (rec.dataAccessExpiresAtMs !== null && rec.dataAccessExpiresAtMs > now) {
    next = Math.min(next, rec.dataAccessExpiresAtMs);
  }
  for (const b of warningBoundaries(policies, rec)) if (b.at > now) next = Math.min(next, b.at);
  return next;
}

/** The warnings (`credential.expiring`) due for boundaries crossed in [fromMs, now], one per kind of expiry. */
export function dueWarnings(
  policies: TokenPolicies,
  rec: Timing & Pick<CredentialRecord, 'status'>,
  fromMs: number,
  now: number,
): WarningBoundary[] {
  if (isTerminal(rec.status)) return [];
  const seen = new Set<string>();
  const out: WarningBoundary[] = [];
  for (const b of warningBoundaries(policies, rec)) {
    if (b.at < fromMs || b.at > now || b.expiresAtMs <= now || seen.has(b.which)) continue;
    seen.add(b.which);
    out.push(b);
  }
  return out;
}

/** Warnings already due when a credential is added (it is inside a window, no scheduled boundary lies ahead). */
export function warningsOnAdd(
  policies: TokenPolicies,
  rec: Timing & Pick<CredentialRecord, 'status'>,
  now: number,
): WarningBoundary[] {
  // A short-lived token is exchanged at once: its own expiry is not worth a warning.
  if (renewMethodOf(rec) === 'exchange-short-lived') return [];
  return dueWarnings(policies, rec, now - (policies.expiryWarningsMs[0] ?? 0), now);
}

/** What the scheduler does with a credential it claimed. */
export type ScheduledAction =
  | { action: 'park' }
  | { action: 'expire' }
  | { action: 'renew'; method: RenewMethod }
  | { action: 'check' };

/** Given a claimed credential and now: park a dead one, expire a lapsed one, renew a due one, else health-check it. */
export function scheduledAction(
  policies: TokenPolicies,
  rec: Timing & Pick<CredentialRecord, 'status'>,
  now: number,
): ScheduledAction {
  if (isTerminal(rec.status)) return { action: 'park' };
  if (rec.expiresAtMs !== null && now >= rec.expiresAtMs) return { action: 'expire' };
  const renewal = renewAt(policies, rec);
  const method = renewMethodOf(rec);
  if (renewal !== undefined && method !== undefined && now >= renewal) return { action: 'renew', method };
  return { action: 'check' };
}

/**
 * The bookkeeping after a failed renewal or health check: one more failure, a backed-off next attempt, the status
 * at `now` (a renewal failing into the warning window turns the credential `expiring`).
 */
export function afterFailure(
  policies: TokenPolicies,
  rec: Timing & Pick<CredentialRecord, 'status' | 'failures'>,
  now: number,
  random01: number,
): { failures: number; status: CredentialStatus; nextCheckAtMs: number } {
  const failures = rec.failures + 1;
  const retryAt = now + backoffMs(policies, failures, random01);
  const status = statusAt(policies, rec, now);
  return { failures, status, nextCheckAtMs: nextCheckAt(policies, { ...rec, status }, now, retryAt) };
}

/** What a live credential's status and next look are after a success (renewal, check, new token) at `now`. */
export function afterSuccess(
  policies: TokenPolicies,
  rec: Timing,
  now: number,
): { status: CredentialStatus; nextCheckAtMs: number } {
  const status = statusAt(policies, { ...rec, status: 'active' }, now);
  return { status, nextCheckAtMs: nextCheckAt(policies, { ...rec, status }, now) };
}

/** The expiry a renewal stores when Graph did not say (a 60-day refresh lasts 60 days). */
export function renewedExpiry(
  method: RenewMethod,
  given: number | null,
  previous: number | null,
  now: number,
): number | null {
  return given ?? (method === 'renew-60-day' ? now + 60 * DAY_MS : previous);
}
