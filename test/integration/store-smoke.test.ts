import { afterAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/core/logger.js';
import { Secret } from '../../src/core/secret.js';
import { openStore } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, type TestEngine, type TestStoreHome } from '../support/store.js';

announcePgSkip('store-smoke');

function capture(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug() {}, info() {}, warn: (m) => warnings.push(m), error() {} };
}

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`openStore (${engine})`, () => {
    let home: TestStoreHome;
    afterAll(async () => home?.cleanup());

    it('opens from config alone (generated master key file), stores and reads a credential', async () => {
      home = await createTestStoreHome(engine);
      const log = capture();
      const store = await openStore(
        { dataDir: home.dataDir, databaseUrl: home.pg?.url, masterKey: undefined },
        { logger: log, ...(home.pg ? { postgres: { schema: home.pg.schema } } : {}) },
      );
      try {
        expect(store.engine).toBe(engine);
        await store.ping();
        expect(log.warnings.some((w) => /WACLOUD_MASTER_KEY is not set/.test(w))).toBe(true);
        // On PostgreSQL a per-host key file is a trap for the second instance: say so.
        expect(log.warnings.some((w) => /every broker instance needs the same master key/.test(w))).toBe(
          engine === 'postgres',
        );
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
        expect((await store.credentials.get(rec.id))?.token.reveal()).toBe('EAAtesttoken1234567890abcdef');
        const status = await store.keys.status();
        expect(status.masterKeySource).toBe('file');
        expect(status.keys).toHaveLength(1);
        expect(status.keys[0]?.rows).toBe(1);
      } finally {
        await store.close();
        await store.close();
      }
      await expect(store.ping()).rejects.toMatchObject({ code: 'STORE' });
    });
  });
}
