import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import type { PhoneNumberRecord } from '../store/phone-numbers.js';
import { createAccessCache } from './access.js';
import type { BrokerStore } from './ports.js';

function fakeStore(rows: PhoneNumberRecord[]) {
  let reads = 0;
  const store = {
    phoneNumbers: {
      async listByTenant(tenantId: string) {
        reads++;
        return rows.filter((r) => r.tenantId === tenantId).map((r) => ({ ...r }));
      },
    },
  } as unknown as BrokerStore;
  return { store, reads: () => reads };
}

const row = (id: string, tenantId: string, credentialId: string | null): PhoneNumberRecord => ({
  id,
  tenantId,
  wabaId: `waba-${tenantId}`,
  displayPhoneNumber: '',
  verifiedName: null,
  credentialId,
  createdAtMs: 0,
  updatedAtMs: 0,
});

describe('access cache: phone numbers for the proxy', () => {
  it("serves a tenant's number (with its credential) from one read until the TTL or an invalidation", async () => {
    const rows = [row('111', 't1', 'c1'), row('222', 't2', 'c2')];
    const { store, reads } = fakeStore(rows);
    const clock = new ManualClock(0);
    const access = createAccessCache(store, clock, 1000);
    expect((await access.phoneNumber('t1', '111'))?.credentialId).toBe('c1');
    expect(await access.isAllowedObject('t1', 'waba-t1')).toBe(true);
    expect((await access.phoneNumber('t1', '111'))?.credentialId).toBe('c1');
    expect(reads()).toBe(1);
    // Another tenant's number is not found through this tenant.
    expect(await access.phoneNumber('t1', '222')).toBeUndefined();
    rows[0] = row('111', 't1', 'c9');
    expect((await access.phoneNumber('t1', '111'))?.credentialId).toBe('c1');
    access.invalidateTenant('t1');
    expect((await access.phoneNumber('t1', '111'))?.credentialId).toBe('c9');
    rows[0] = row('111', 't1', 'c10');
    await clock.advance(1000);
    expect((await access.phoneNumber('t1', '111'))?.credentialId).toBe('c10');
  });
});

describe('access cache: admin keys behind dashboard sessions', () => {
  it('answers from memory until the TTL, sees a revocation here at once, and a new key on its first miss', async () => {
    const rows = [
      { keyId: 'admin001', tenantId: null, revokedAtMs: null as number | null },
      { keyId: 'admin002', tenantId: null, revokedAtMs: null as number | null },
    ];
    let reads = 0;
    const store = {
      apiKeys: {
        async listByTenant(tenantId: string | null | undefined) {
          reads++;
          expect(tenantId).toBeNull();
          return rows.map((r) => ({ ...r, hash: 'h', label: '', createdAtMs: 0 }));
        },
      },
    } as unknown as BrokerStore;
    const clock = new ManualClock(0);
    const access = createAccessCache(store, clock, 30_000);
    expect(await access.isAdminKeyLive('admin001')).toBe(true);
    // A hit is a plain boolean: no promise, no store read.
    expect(access.isAdminKeyLive('admin002')).toBe(true);
    expect(reads).toBe(1);

    // Revoked behind this instance's back (another instance): still live until the TTL runs out...
    (rows[0] as { revokedAtMs: number | null }).revokedAtMs = 1;
    await clock.advance(10_000);
    expect(access.isAdminKeyLive('admin001')).toBe(true);
    await clock.advance(20_000);
    expect(await access.isAdminKeyLive('admin001')).toBe(false);
    expect(reads).toBe(2);
    // ...and revoked through this instance (invalidateKeys): at once.
    (rows[1] as { revokedAtMs: number | null }).revokedAtMs = 2;
    access.invalidateKeys();
    expect(await access.isAdminKeyLive('admin002')).toBe(false);
    expect(reads).toBe(3);
    // A revoked key asked again and again within a second costs no read each time.
    for (let i = 0; i < 5; i++) expect(await access.isAdminKeyLive('admin002')).toBe(false);
    expect(reads).toBe(3);

    // A key created meanwhile (say on another instance) is found on its first miss once a second has passed.
    rows.push({ keyId: 'admin003', tenantId: null, revokedAtMs: null });
    await clock.advance(1000);
    expect(await access.isAdminKeyLive('admin003')).toBe(true);
    expect(reads).toBe(4);
    expect(access.isAdminKeyLive('admin003')).toBe(true);
    expect(reads).toBe(4);
  });
});
