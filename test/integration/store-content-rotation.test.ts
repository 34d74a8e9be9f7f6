import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Secret } from '../../src/core/secret.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, rawQuery, type TestEngine, type TestStoreHome } from '../support/store.js';

announcePgSkip('store-content-rotation');

/** Twice the default keyring refresh: after it a replaced key may be retired. */
const GRACE_MS = 2 * 60_000;

/**
 * Customer content (webhook bodies, delivery payloads) is under the data keys like tokens: `keys status` counts it,
 * `keys rotate` re-encrypts it in small batches (deliveries are paged by their integer id, the inbox by its dedupe key)
 * and retires the old key only once no row of it is left; everything reads back the same.
 */
for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(
    `customer content and key rotation (${engine})`,
    () => {
      let home: TestStoreHome | undefined;
      afterEach(async () => {
        await home?.cleanup();
        home = undefined;
      });

      it('counts, re-encrypts and keeps readable every webhook body and delivery payload', async () => {
        home = await createTestStoreHome(engine);
        const clock = new ManualClock(Date.now());
        const store = await home.open({ clock });
        const sub = await store.subscriptions.create(
          {
            tenantId: 't1',
            url: 'https://example.test/h',
            secret: new Secret('whsec_rotation_content'),
            events: [],
          },
          1,
        );
        const bodies = Array.from(
          { length: 7 },
          (_, i) => `{"entry":[{"n":${i},"text":"customer says ${i}"}]}`,
        );
        await store.inbox.insertMany(
          bodies.map((b, i) => ({
            body: Buffer.from(b),
            signatureValid: true,
            dedupeKey: `k${i}`,
            receivedAtMs: 1,
          })),
        );
        for (let i = 0; i < 12; i++) {
          await store.deliveries.enqueue(
            {
              subscriptionId: sub.id,
              tenantId: 't1',
              eventId: `e${i}`,
              eventType: 'message',
              payload: `{"n":${i},"text":"payload ${i}"}`,
            },
            1,
          );
        }
        const before = await store.keys.status();
        const oldKey = before.activeKeyId as string;
        expect(before.keys[0]?.rowsByTable).toMatchObject({
          webhook_inbox: 7,
          deliveries: 12,
          subscriptions: 1,
        });

        await clock.advance(GRACE_MS);
        // Small batches: the paging over both tables is exercised (3 pages of deliveries, 3 of the inbox).
        const first = await store.keys.rotate({ batchSize: 5 });
        expect(first.reencrypted).toBe(7 + 12 + 1);
        await clock.advance(GRACE_MS);
        const second = await store.keys.rotate({ batchSize: 5 });
        expect(second.retired).toContain(oldKey);

        const keyIds = await rawQuery<{ key_id: string }>(
          home,
          'SELECT key_id FROM webhook_inbox UNION ALL SELECT key_id FROM deliveries',
        );
        expect(keyIds).toHaveLength(19);
        expect(new Set(keyIds.map((r) => r.key_id))).toEqual(new Set([first.activeKeyId]));
        const read = (await store.inbox.recent(100)).map((i) => i.body.toString('utf8')).sort();
        expect(read).toEqual([...bodies].sort());
        const payloads = (await store.deliveries.listBySubscription(sub.id, 100)).map((d) => d.payload);
        expect(payloads.sort()).toEqual(
          Array.from({ length: 12 }, (_, i) => `{"n":${i},"text":"payload ${i}"}`).sort(),
        );
      });
    },
  );
}
