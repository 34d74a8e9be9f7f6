import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CredentialKind, CredentialStatus } from './credential-store.js';
import { TokenManager } from './token-manager.js';
import {
  afterFailure,
  afterSuccess,
  backoffMs,
  DAY_MS,
  DEFAULT_TOKEN_POLICIES,
  dueWarnings,
  NEVER_MS,
  nextCheckAt,
  renewAt,
  renewedExpiry,
  renewMethodOf,
  resolvePolicies,
  scheduledAction,
  statusAt,
  warningBoundaries,
  warningsOnAdd,
} from './token-policy.js';

const P = resolvePolicies();
const NOW = Date.UTC(2026, 0, 1);
const KINDS: CredentialKind[] = [
  'temporary',
  'user-short',
  'user-long',
  'system-user',
  'business-integration',
  'page',
  'app',
];
const STATUSES: CredentialStatus[] = ['active', 'expiring', 'expired', 'invalid', 'revoked'];

function cred(
  kind: CredentialKind,
  expiresAtMs: number | null,
  more: { dataAccessExpiresAtMs?: number | null; status?: CredentialStatus; failures?: number } = {},
) {
  return {
    kind,
    expiresAtMs,
    dataAccessExpiresAtMs: more.dataAccessExpiresAtMs ?? null,
    status: more.status ?? ('active' as CredentialStatus),
    failures: more.failures ?? 0,
  };
}

describe('resolvePolicies', () => {
  it('fills defaults, sorts warnings longest first, drops non-positive ones', () => {
    const p = resolvePolicies({ expiryWarningsMs: [DAY_MS, 0, 7 * DAY_MS, -5, 3 * DAY_MS] });
    expect(p.expiryWarningsMs).toEqual([7 * DAY_MS, 3 * DAY_MS, DAY_MS]);
    expect(p.leaseMs).toBe(DEFAULT_TOKEN_POLICIES.leaseMs);
    expect(Object.isFrozen(p)).toBe(true);
  });
  it.each([
    'renewBeforeExpiryMs',
    'healthCheckIntervalMs',
    'retryBaseMs',
    'retryMaxMs',
    'leaseMs',
    'batchSize',
    'concurrency',
    'pollIntervalMs',
    'cacheTtlMs',
  ] as const)('refuses a zero, negative or non-finite %s', (key) => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolvePolicies({ [key]: bad })).toThrow(`policies.${key}`);
    }
  });
});

describe('renewMethodOf / renewAt', () => {
  it('names the renewal of every kind', () => {
    const table = KINDS.map((k) => [k, renewMethodOf(cred(k, NOW + DAY_MS)), renewMethodOf(cred(k, null))]);
    expect(table).toEqual([
      ['temporary', 'exchange-short-lived', 'exchange-short-lived'],
      ['user-short', 'exchange-short-lived', 'exchange-short-lived'],
      ['user-long', undefined, undefined],
      ['system-user', 'renew-60-day', undefined],
      ['business-integration', 'renew-60-day', undefined],
      ['page', undefined, undefined],
      ['app', undefined, undefined],
    ]);
  });
  it('renews 60-day tokens renewBeforeExpiryMs early, short-lived ones at once (unless turned off)', () => {
    expect(renewAt(P, cred('system-user', NOW + 60 * DAY_MS))).toBe(NOW + 50 * DAY_MS);
    expect(renewAt(P, cred('user-short', NOW + 3600_000))).toBe(0);
    expect(renewAt(resolvePolicies({ exchangeShortLived: false }), cred('user-short', NOW + 3600_000))).toBe(
      undefined,
    );
    expect(renewAt(P, cred('user-long', NOW + 60 * DAY_MS))).toBe(undefined);
    expect(renewAt(P, cred('system-user', null))).toBe(undefined);
  });
});

describe('backoffMs', () => {
  it('doubles from retryBaseMs, caps at retryMaxMs, and jitters within [half, full)', () => {
    expect(backoffMs(P, 1, 0)).toBe(30_000);
    expect(backoffMs(P, 1, 0.999999)).toBe(59_999);
    expect(backoffMs(P, 2, 0.5)).toBe(90_000);
    expect(backoffMs(P, 0, 0.5)).toBe(45_000);
    expect(backoffMs(P, 30, 0.5)).toBe(2_700_000);
  });
  it('never exceeds the cap nor falls under half the ceiling (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 80 }),
        fc.double({ min: 0, max: 0.9999999, noNaN: true }),
        (f, r) => {
          const ms = backoffMs(P, f, r);
          const ceiling = Math.min(P.retryMaxMs, P.retryBaseMs * 2 ** Math.max(0, f - 1));
          return ms <= P.retryMaxMs && ms >= Math.floor(ceiling / 2) && ms <= ceiling;
        },
      ),
    );
  });
});

describe('statusAt', () => {
  it('keeps terminal states whatever the dates', () => {
    for (const s of ['expired', 'invalid', 'revoked'] as const) {
      expect(statusAt(P, cred('user-long', NOW + 90 * DAY_MS, { status: s }), NOW)).toBe(s);
    }
  });
  it('expires at the expiry, not a millisecond before', () => {
    expect(statusAt(P, cred('user-long', NOW), NOW)).toBe('expired');
    expect(statusAt(P, cred('user-long', NOW + 1), NOW)).toBe('expiring');
  });
  it('an unrenewable token is expiring inside the widest warning window', () => {
    expect(statusAt(P, cred('user-long', NOW + 7 * DAY_MS), NOW)).toBe('expiring');
    expect(statusAt(P, cred('user-long', NOW + 7 * DAY_MS + 1), NOW)).toBe('active');
  });
  it('a renewable token is expiring only once its renewal is overdue', () => {
    const policies = resolvePolicies({ renewBeforeExpiryMs: 5 * DAY_MS });
    // 6 days left: in the 7-day window, but the renewal (5 days out) is not due yet.
    expect(statusAt(policies, cred('system-user', NOW + 6 * DAY_MS), NOW)).toBe('active');
    expect(statusAt(policies, cred('system-user', NOW + 5 * DAY_MS), NOW)).toBe('expiring');
  });
  it('data access ending soon makes a credential expiring', () => {
    expect(statusAt(P, cred('page', null, { dataAccessExpiresAtMs: NOW + DAY_MS }), NOW)).toBe('expiring');
    expect(statusAt(P, cred('page', null, { dataAccessExpiresAtMs: NOW + 8 * DAY_MS }), NOW)).toBe('active');
  });
});

describe('warningBoundaries / dueWarnings / warningsOnAdd', () => {
  it('warns 7, 3 and 1 days before an unrenewable expiry', () => {
    const exp = NOW + 30 * DAY_MS;
    expect(warningBoundaries(P, cred('user-long', exp)).map((b) => exp - b.at)).toEqual([
      7 * DAY_MS,
      3 * DAY_MS,
      DAY_MS,
    ]);
  });
  it('warns about a renewable token only for boundaries after its renewal time', () => {
    const policies = resolvePolicies({ renewBeforeExpiryMs: 5 * DAY_MS });
    const exp = NOW + 30 * DAY_MS;
    expect(warningBoundaries(policies, cred('system-user', exp)).map((b) => exp - b.at)).toEqual([
      3 * DAY_MS,
      DAY_MS,
    ]);
    // Renewal 10 days out: all three warnings lie after it (they fire only if the renewal keeps failing).
    expect(warningBoundaries(P, cred('system-user', exp))).toHaveLength(3);
  });
  it('warns about data access only when it ends before the token', () => {
    const da = NOW + 20 * DAY_MS;
    expect(warningBoundaries(P, cred('page', null, { dataAccessExpiresAtMs: da }))).toHaveLength(3);
    expect(
      warningBoundaries(P, cred('user-long', da - 1, { dataAccessExpiresAtMs: da })).map((b) => b.which),
    ).toEqual(['token', 'token', 'token']);
  });
  it('emits one warning per kind of expiry for the boundaries crossed, none for a dead credential', () => {
    const rec = cred('user-long', NOW + 2 * DAY_MS, { dataAccessExpiresAtMs: NOW + DAY_MS / 2 });
    const due = dueWarnings(P, rec, NOW - 10 * DAY_MS, NOW);
    expect(due.map((b) => b.which)).toEqual(['token', 'data-access']);
    expect(dueWarnings(P, { ...rec, status: 'invalid' }, NOW - 10 * DAY_MS, NOW)).toEqual([]);
    // Boundaries outside [from, now] are not due.
    expect(dueWarnings(P, rec, NOW + 1, NOW + 2)).toEqual([]);
  });
  it('on add: a credential already in a window is warned about, a short-lived one (exchanged at once) is not', () => {
    expect(warningsOnAdd(P, cred('user-long', NOW + 2 * DAY_MS), NOW)).toHaveLength(1);
    expect(warningsOnAdd(P, cred('user-short', NOW + 3600_000), NOW)).toEqual([]);
    expect(warningsOnAdd(P, cred('user-long', NOW + 30 * DAY_MS), NOW)).toEqual([]);
  });
});

describe('nextCheckAt', () => {
  it('parks terminal credentials forever', () => {
    for (const s of ['expired', 'invalid', 'revoked'] as const) {
      expect(nextCheckAt(P, cred('user-long', NOW + DAY_MS, { status: s }), NOW)).toBe(NEVER_MS);
    }
  });
  it('is the daily health check for a token that never expires', () => {
    expect(nextCheckAt(P, cred('system-user', null), NOW)).toBe(NOW + DAY_MS);
  });
  it('is the renewal time when it comes before the health check; now (or the retry time) once overdue', () => {
    const policies = resolvePolicies({ healthCheckIntervalMs: 30 * DAY_MS });
    expect(nextCheckAt(policies, cred('system-user', NOW + 15 * DAY_MS), NOW)).toBe(NOW + 5 * DAY_MS);
    expect(nextCheckAt(policies, cred('system-user', NOW + 5 * DAY_MS), NOW)).toBe(NOW);
    expect(nextCheckAt(policies, cred('system-user', NOW + 5 * DAY_MS), NOW, NOW + 60_000)).toBe(
      NOW + 60_000,
    );
  });
  it('a retry time also bounds a credential that is not renewed', () => {
    expect(nextCheckAt(P, cred('user-long', NOW + 30 * DAY_MS), NOW, NOW + 60_000)).toBe(NOW + 60_000);
  });
  it('never sleeps past a warning boundary or an expiry (property)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KINDS),
        fc.option(fc.integer({ min: 1, max: 90 * DAY_MS }), { nil: null }),
        fc.option(fc.integer({ min: 1, max: 90 * DAY_MS }), { nil: null }),
        (kind, exp, da) => {
          const rec = cred(kind, exp === null ? null : NOW + exp, {
            dataAccessExpiresAtMs: da === null ? null : NOW + da,
          });
          const next = nextCheckAt(P, rec, NOW);
          // Due now only when a renewal is overdue (a short-lived token is exchanged at once).
          if (next === NOW) return (renewAt(P, rec) ?? Number.POSITIVE_INFINITY) <= NOW;
          if (next < NOW || next > NOW + P.healthCheckIntervalMs) return false;
          if (rec.expiresAtMs !== null && next > rec.expiresAtMs) return false;
          return warningBoundaries(P, rec).every((b) => b.at <= NOW || next <= b.at);
        },
      ),
    );
  });
});

describe('scheduledAction', () => {
  it('decides for every kind and status', () => {
    for (const kind of KINDS) {
      for (const status of STATUSES) {
        const action = scheduledAction(P, cred(kind, NOW + 60 * DAY_MS, { status }), NOW).action;
        if (status === 'expired' || status === 'invalid' || status === 'revoked') expect(action).toBe('park');
        else if (kind === 'user-short' || kind === 'temporary') expect(action).toBe('renew');
        else expect(action).toBe('check');
      }
    }
  });
  it('expires a lapsed token, renews a due one with its method, checks one that is not due', () => {
    expect(scheduledAction(P, cred('user-long', NOW), NOW)).toEqual({ action: 'expire' });
    expect(scheduledAction(P, cred('system-user', NOW + 10 * DAY_MS), NOW)).toEqual({
      action: 'renew',
      method: 'renew-60-day',
    });
    expect(scheduledAction(P, cred('system-user', NOW + 10 * DAY_MS + 1), NOW)).toEqual({ action: 'check' });
    expect(
      scheduledAction(resolvePolicies({ exchangeShortLived: false }), cred('user-short', NOW + 1000), NOW),
    ).toEqual({ action: 'check' });
  });
});

describe('afterFailure / afterSuccess / renewedExpiry', () => {
  it('counts the failure and backs off; the retry replaces an overdue renewal', () => {
    const rec = cred('system-user', NOW + 2 * DAY_MS, { failures: 2 });
    const r = afterFailure(P, rec, NOW, 0.5);
    expect(r.failures).toBe(3);
    expect(r.nextCheckAtMs).toBe(NOW + backoffMs(P, 3, 0.5));
    // Renewal failing inside the warning window: the status says so.
    expect(r.status).toBe('expiring');
  });
  it('a failed check of a healthy token keeps it active and retries after the back-off', () => {
    const r = afterFailure(P, cred('user-long', NOW + 30 * DAY_MS), NOW, 0);
    expect(r).toEqual({ failures: 1, status: 'active', nextCheckAtMs: NOW + 30_000 });
  });
  it('a failure never revives a terminal credential', () => {
    const r = afterFailure(P, cred('user-long', NOW + 30 * DAY_MS, { status: 'revoked' }), NOW, 0);
    expect(r.status).toBe('revoked');
    expect(r.nextCheckAtMs).toBe(NEVER_MS);
  });
  it('after a success the credential is active again (or expiring/expired by its dates)', () => {
    expect(afterSuccess(P, cred('user-long', NOW + 30 * DAY_MS), NOW).status).toBe('active');
    expect(afterSuccess(P, cred('user-long', NOW + DAY_MS), NOW).status).toBe('expiring');
    expect(afterSuccess(P, cred('user-long', NOW), NOW)).toEqual({
      status: 'expired',
      nextCheckAtMs: NEVER_MS,
    });
  });
  it('a 60-day refresh without an expiry from Graph lasts 60 days; an exchange keeps what it had', () => {
    expect(renewedExpiry('renew-60-day', null, NOW, NOW)).toBe(NOW + 60 * DAY_MS);
    expect(renewedExpiry('renew-60-day', NOW + 5, NOW, NOW)).toBe(NOW + 5);
    expect(renewedExpiry('exchange-short-lived', null, NOW + 7, NOW)).toBe(NOW + 7);
  });
});

describe('environment only at the edges', () => {
  afterEach(() => vi.unstubAllEnvs());
  it('the constructor reads no environment; fromEnv does', () => {
    vi.stubEnv('WA_APP_ID', '1234');
    vi.stubEnv('WA_APP_SECRET', 'an-app-secret-from-env');
    expect(() => new TokenManager({})).toThrow(/WA_APP_ID.*fromEnv/);
    expect(() => new TokenManager({ appId: '1234' })).toThrow(/WA_APP_SECRET/);
    const m = TokenManager.fromEnv({ configSource: { envFile: false } });
    expect(m.auth.appId).toBe('1234');
    void m.close();
  });
});
