import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';

announcePgSkip('store-connect-tables');

/** Migrations 2 and 3 on both engines: revoked dashboard sessions, and a webhook listed under several tenants. */
for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(
    `store: sessions and inbox tenants (${engine})`,
    () => {
      let home: TestStoreHome;
      let store: Store;
      beforeAll(async () => {
        home = await createTestStoreHome(engine);
        store = await home.open();
      });
      afterAll(async () => home?.cleanup());

      it('revoked sessions: idempotent revoke, looked up by hash, purged once expired anyway', async () => {
        const a = 'a'.repeat(64);
        const b = 'b'.repeat(64);
        expect(await store.revokedSessions.isRevoked(a)).toBe(false);
        await store.revokedSessions.revoke(a, 1_000, 10);
        await store.revokedSessions.revoke(a, 1_000, 11);
        await store.revokedSessions.revoke(b, 5_000, 12);
        expect(await store.revokedSessions.isRevoked(a)).toBe(true);
        expect(await store.revokedSessions.purgeExpired(2_000)).toBe(1);
        expect(await store.revokedSessions.isRevoked(a)).toBe(false);
        expect(await store.revokedSessions.isRevoked(b)).toBe(true);
      });

      it('a webhook routed to one tenant and listed under another too; idempotent; others do not see it', async () => {
        const { item } = await store.inbox.insert({
          body: Buffer.from('{"entry":[]}'),
          signatureValid: true,
          dedupeKey: 'sha256:multi',
          receivedAtMs: 100,
        });
        await store.inbox.markDone(item.id, 200, 'tenant-a');
        await store.inbox.addTenants(item.id, ['tenant-b', 'tenant-c']);
        await store.inbox.addTenants(item.id, ['tenant-b']);
        await store.inbox.addTenants(item.id, []);
        for (const t of ['tenant-a', 'tenant-b', 'tenant-c'])
          expect(
            (await store.inbox.recent(10, t)).map((x) => x.id),
            t,
          ).toEqual([item.id]);
        expect(await store.inbox.recent(10, 'tenant-d')).toEqual([]);
        expect((await store.inbox.recent(10)).filter((x) => x.id === item.id)).toHaveLength(1);
      });
    },
  );
}
