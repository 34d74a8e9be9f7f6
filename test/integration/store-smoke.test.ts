import { afterAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';

announcePgSkip('store-smoke');

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`store smoke (${engine})`, () => {
    let home: TestStoreHome;
    afterAll(async () => home?.cleanup());
    it('opens, stores and reads a credential', async () => {
      home = await createTestStoreHome(engine);
      const store = await home.open();
      expect(store.engine).toBe(engine);
      await store.ping();
      const rec = await store.credentials.insert(
        {
          tenantId: 't1',
          kind: 'system-user',
          appId: '123',
          subjectId: null,
          scopes: ['whatsapp_business_messaging'],
          targetIds: [],
          token: new Secret('EAAtesttoken1234567890abcdef', 'access-token'),
          issuedAtMs: 1,
          expiresAtMs: null,
          dataAccessExpiresAtMs: null,
          status: 'active',
          nextCheckAtMs: 100,
        },
        1000,
      );
      const got = await store.credentials.get(rec.id);
      expect(got?.token.reveal()).toBe('EAAtesttoken1234567890abcdef');
      const status = await store.keys.status();
      expect(status.keys).toHaveLength(1);
      expect(status.keys[0]?.rows).toBe(1);
    });
  });
}
