import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.js';
import { createAccessCache } from './access.js';
import type { BrokerStore, PhoneNumberRow } from './ports.js';

function fakeStore(rows: PhoneNumberRow[]) {
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

const row = (id: string, tenantId: string, credentialId: string | null): PhoneNumberRow => ({
  id,
  tenantId,
  wabaId: `waba-${tenantId}`,
  displayNumber: null,
  verifiedName: null,
  credentialId,
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
