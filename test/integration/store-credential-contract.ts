import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CredentialStore, NewCredential } from '../../src/auth/credential-store.js';
import { Secret } from '../../src/core/secret.js';

/** 8_640_000_000_000_000: the token manager's "never". */
const NEVER_MS = 8_640_000_000_000_000;

/** A fresh, empty store per test, and how to dispose of it. */
export interface ContractHarness {
  store: CredentialStore;
  dispose(): Promise<void>;
}

export function draft(overrides: Partial<NewCredential> = {}): NewCredential {
  return {
    tenantId: 'tenant-a',
    kind: 'system-user',
    appId: '1234567890',
    subjectId: '555',
    scopes: ['whatsapp_business_messaging', 'whatsapp_business_management'],
    targetIds: ['waba-1'],
    token: new Secret(`EAAG${'x'.repeat(20)}${Math.random().toString(36).slice(2)}`, 'access-token'),
    issuedAtMs: 1_000,
    expiresAtMs: 5_000_000,
    dataAccessExpiresAtMs: 7_000_000,
    status: 'active',
    nextCheckAtMs: 10_000,
    ...overrides,
  };
}

/**
 * The CredentialStore contract: the same tests for MemoryCredentialStore and the SQLite and PostgreSQL stores, so
 * the token manager sees one behaviour everywhere.
 */
export function credentialStoreContract(
  name: string,
  create: () => Promise<ContractHarness>,
  options: { skip?: boolean; teardown?: () => Promise<void> } = {},
): void {
  describe.skipIf(options.skip === true)(`CredentialStore contract: ${name}`, () => {
    afterAll(async () => {
      await options.teardown?.();
    });
    let h: ContractHarness;
    let store: CredentialStore;
    beforeEach(async () => {
      h = await create();
      store = h.store;
    });
    afterEach(async () => {
      await h.dispose();
    });

    it('insert returns the record at version 1 with no lease, and get returns the same', async () => {
      const d = draft({ id: 'cred-1' });
      const rec = await store.insert(d, 2_000);
      expect(rec).toMatchObject({
        id: 'cred-1',
        tenantId: 'tenant-a',
        kind: 'system-user',
        appId: '1234567890',
        subjectId: '555',
        scopes: d.scopes,
        targetIds: ['waba-1'],
        version: 1,
        issuedAtMs: 1_000,
        expiresAtMs: 5_000_000,
        dataAccessExpiresAtMs: 7_000_000,
        status: 'active',
        nextCheckAtMs: 10_000,
        leaseOwner: null,
        leaseExpiresAtMs: null,
        failures: 0,
        lastError: null,
        createdAtMs: 2_000,
        updatedAtMs: 2_000,
      });
      expect(rec.token).toBeInstanceOf(Secret);
      expect(rec.token.equals(d.token)).toBe(true);
      const got = await store.get('cred-1');
      expect(got).toBeDefined();
      expect({ ...got, token: undefined }).toEqual({ ...rec, token: undefined });
      expect(got?.token.reveal()).toBe(d.token.reveal());
    });

    it('keeps nulls and empty arrays as given', async () => {
      const rec = await store.insert(
        draft({
          subjectId: null,
          scopes: [],
          targetIds: [],
          issuedAtMs: null,
          expiresAtMs: null,
          dataAccessExpiresAtMs: null,
        }),
        1,
      );
      const got = await store.get(rec.id);
      expect(got).toMatchObject({
        subjectId: null,
        scopes: [],
        targetIds: [],
        issuedAtMs: null,
        expiresAtMs: null,
      });
      expect(got?.dataAccessExpiresAtMs).toBeNull();
    });

    it('generates an id when none is given, and refuses a duplicate id with CONFLICT', async () => {
      const a = await store.insert(draft(), 1);
      expect(a.id).toMatch(/\S{8,}/);
      await store.insert(draft({ id: 'dup' }), 1);
      await expect(store.insert(draft({ id: 'dup' }), 2)).rejects.toMatchObject({ code: 'CONFLICT' });
      expect((await store.list()).length).toBe(2);
    });

    it('get of an unknown id is undefined; list and listByTenant return the right rows', async () => {
      expect(await store.get('nope')).toBeUndefined();
      await store.insert(draft({ id: 'a1', tenantId: 'A' }), 1);
      await store.insert(draft({ id: 'a2', tenantId: 'A' }), 2);
      await store.insert(draft({ id: 'b1', tenantId: 'B' }), 3);
      expect((await store.listByTenant('A')).map((r) => r.id).sort()).toEqual(['a1', 'a2']);
      expect((await store.listByTenant('B')).map((r) => r.id)).toEqual(['b1']);
      expect(await store.listByTenant('C')).toEqual([]);
      expect((await store.list()).map((r) => r.id).sort()).toEqual(['a1', 'a2', 'b1']);
    });

    it('listSummaries gives the rows without tokens, all or one tenant, in list order', async () => {
      expect(store.listSummaries).toBeTypeOf('function');
      await store.insert(draft({ id: 'a1', tenantId: 'A', expiresAtMs: 5_000 }), 1);
      await store.insert(draft({ id: 'b1', tenantId: 'B', expiresAtMs: null }), 2);
      await store.insert(draft({ id: 'a2', tenantId: 'A' }), 3);
      await store.update('a2', 1, { status: 'invalid', token: new Secret('EAAGrotated0123456789') }, 4);
      const all = (await store.listSummaries?.()) ?? [];
      expect(all).toEqual(
        (await store.list()).map((r) => ({
          id: r.id,
          tenantId: r.tenantId,
          kind: r.kind,
          version: r.version,
          status: r.status,
          expiresAtMs: r.expiresAtMs,
          createdAtMs: r.createdAtMs,
        })),
      );
      expect(all.find((r) => r.id === 'a2')).toMatchObject({ version: 2, status: 'invalid' });
      expect(JSON.stringify(all)).not.toContain('EAAG');
      expect((await store.listSummaries?.('A'))?.map((r) => r.id)).toEqual(['a1', 'a2']);
      expect(await store.listSummaries?.('C')).toEqual([]);
    });

    it('update with a new token bumps the version; the same token or other fields keep it', async () => {
      const rec = await store.insert(draft({ id: 'u' }), 1);
      const same = await store.update(
        'u',
        1,
        { token: new Secret(rec.token.reveal()), status: 'expiring' },
        5,
      );
      expect(same?.version).toBe(1);
      expect(same?.status).toBe('expiring');
      const fresh = new Secret('EAAGnewtokenvalue0123456789abcdef', 'access-token');
      const next = await store.update('u', 1, { token: fresh, expiresAtMs: 9_999_999 }, 6);
      expect(next?.version).toBe(2);
      expect(next?.token.reveal()).toBe(fresh.reveal());
      expect(next?.updatedAtMs).toBe(6);
      expect(next?.createdAtMs).toBe(1);
      const got = await store.get('u');
      expect(got?.version).toBe(2);
      expect(got?.token.reveal()).toBe(fresh.reveal());
      expect(got?.expiresAtMs).toBe(9_999_999);
    });

    it('update changes every patchable field', async () => {
      await store.insert(draft({ id: 'f' }), 1);
      const patched = await store.update(
        'f',
        1,
        {
          kind: 'user-long',
          scopes: ['a'],
          targetIds: ['t1', 't2'],
          issuedAtMs: 11,
          expiresAtMs: 12,
          dataAccessExpiresAtMs: 13,
          status: 'invalid',
          nextCheckAtMs: NEVER_MS,
          leaseOwner: 'me',
          leaseExpiresAtMs: 14,
          failures: 3,
          lastError: 'Graph said no (190/460)',
          subjectId: null,
        },
        20,
      );
      const expected = {
        kind: 'user-long',
        scopes: ['a'],
        targetIds: ['t1', 't2'],
        issuedAtMs: 11,
        expiresAtMs: 12,
        dataAccessExpiresAtMs: 13,
        status: 'invalid',
        nextCheckAtMs: NEVER_MS,
        leaseOwner: 'me',
        leaseExpiresAtMs: 14,
        failures: 3,
        lastError: 'Graph said no (190/460)',
        subjectId: null,
        version: 1,
        updatedAtMs: 20,
      };
      expect(patched).toMatchObject(expected);
      expect(await store.get('f')).toMatchObject(expected);
    });

    it('update is a compare-and-set: a stale version gets undefined and changes nothing', async () => {
      const rec = await store.insert(draft({ id: 'c' }), 1);
      await store.update('c', 1, { token: new Secret('EAAGsecondtoken0000000000000000') }, 2);
      const stale = await store.update(
        'c',
        1,
        { token: new Secret('EAAGthirdtoken00000000000000000'), status: 'revoked' },
        3,
      );
      expect(stale).toBeUndefined();
      const got = await store.get('c');
      expect(got?.version).toBe(2);
      expect(got?.status).toBe(rec.status);
      expect(got?.token.reveal()).toBe('EAAGsecondtoken0000000000000000');
    });

    it('update of an unknown credential throws a STORE error', async () => {
      await expect(store.update('ghost', 1, { status: 'active' }, 1)).rejects.toMatchObject({
        code: 'STORE',
      });
    });

    it('two writers racing on one credential: exactly one wins, the loser re-reads and retries', async () => {
      await store.insert(draft({ id: 'race' }), 1);
      const a = new Secret('EAAGwriterAAAAAAAAAAAAAAAAAAAAAA');
      const b = new Secret('EAAGwriterBBBBBBBBBBBBBBBBBBBBBB');
      const results = await Promise.all([
        store.update('race', 1, { token: a }, 2),
        store.update('race', 1, { token: b }, 2),
      ]);
      const winners = results.filter((r) => r !== undefined);
      expect(winners).toHaveLength(1);
      const winner = winners[0];
      const current = await store.get('race');
      expect(current?.version).toBe(2);
      expect(current?.token.reveal()).toBe(winner?.token.reveal());
      const loserToken = winner?.token.equals(a) ? b : a;
      const retried = await store.update('race', current?.version ?? 0, { token: loserToken }, 3);
      expect(retried?.version).toBe(3);
      expect((await store.get('race'))?.token.reveal()).toBe(loserToken.reveal());
    });

    it('claimDue leases only due rows with a free or lapsed lease, up to the limit', async () => {
      await store.insert(draft({ id: 'due1', nextCheckAtMs: 100 }), 1);
      await store.insert(draft({ id: 'due2', nextCheckAtMs: 200 }), 1);
      await store.insert(draft({ id: 'due3', nextCheckAtMs: 300 }), 1);
      await store.insert(draft({ id: 'later', nextCheckAtMs: 10_000 }), 1);
      await store.insert(draft({ id: 'never', nextCheckAtMs: NEVER_MS }), 1);

      const first = await store.claimDue(500, 2, 'owner-1', 1_000);
      expect(first).toHaveLength(2);
      for (const r of first) {
        expect(r.leaseOwner).toBe('owner-1');
        expect(r.leaseExpiresAtMs).toBe(1_500);
        expect(['due1', 'due2', 'due3']).toContain(r.id);
      }
      const second = await store.claimDue(500, 10, 'owner-2', 1_000);
      expect(second.map((r) => r.id)).toHaveLength(1);
      expect([...first, ...second].map((r) => r.id).sort()).toEqual(['due1', 'due2', 'due3']);
      expect(await store.claimDue(600, 10, 'owner-3', 1_000)).toEqual([]);
      // After the leases lapse, the rows are claimable again; "later" joins once due.
      const third = await store.claimDue(10_000, 10, 'owner-3', 1_000);
      expect(third.map((r) => r.id).sort()).toEqual(['due1', 'due2', 'due3', 'later']);
      const persisted = await store.get('due1');
      expect(persisted?.leaseOwner).toBe('owner-3');
      expect(persisted?.leaseExpiresAtMs).toBe(11_000);
      expect(await store.claimDue(500, 0, 'x', 1)).toEqual([]);
    });

    it('claim leases one credential unless another owner holds a live lease', async () => {
      await store.insert(draft({ id: 'k', nextCheckAtMs: 1_000_000 }), 1);
      const a = await store.claim?.('k', 'A', 100, 1_000);
      expect(a?.leaseOwner).toBe('A');
      expect(a?.leaseExpiresAtMs).toBe(1_100);
      expect(await store.claim?.('k', 'B', 500, 1_000)).toBeUndefined();
      const again = await store.claim?.('k', 'A', 600, 1_000);
      expect(again?.leaseExpiresAtMs).toBe(1_600);
      const b = await store.claim?.('k', 'B', 1_600, 1_000);
      expect(b?.leaseOwner).toBe('B');
      expect(await store.claim?.('missing', 'A', 1, 1)).toBeUndefined();
    });

    it('releaseLease drops only the owner’s lease', async () => {
      await store.insert(draft({ id: 'r', nextCheckAtMs: 5 }), 1);
      await store.claimDue(10, 1, 'A', 1_000);
      await store.releaseLease('r', 'B', 20);
      expect((await store.get('r'))?.leaseOwner).toBe('A');
      await store.releaseLease('r', 'A', 20);
      const got = await store.get('r');
      expect(got?.leaseOwner).toBeNull();
      expect(got?.leaseExpiresAtMs).toBeNull();
      expect((await store.claimDue(30, 1, 'B', 1_000)).map((x) => x.id)).toEqual(['r']);
      await store.releaseLease('missing', 'A', 1);
    });

    it('delete removes the credential', async () => {
      await store.insert(draft({ id: 'd' }), 1);
      await store.delete('d');
      expect(await store.get('d')).toBeUndefined();
      await store.delete('d');
    });
  });
}
