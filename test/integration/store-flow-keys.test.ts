import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { createEmulator, type Emulator } from '../../src/emulator/index.js';
import { decryptFlowRequest, encryptFlowRequest, FlowCryptoError } from '../../src/flows/crypto.js';
import { FlowKeyCustody } from '../../src/flows/key-custody.js';
import type { Store } from '../../src/store/open-store.js';
import { createFetchTransport } from '../../src/transport/fetch-transport.js';
import { WhatsApp } from '../../src/whatsapp/whatsapp.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { createTestStoreHome, rawQuery, type TestEngine, type TestStoreHome } from '../support/store.js';

announcePgSkip('store-flow-keys');

const HOUR = 3600_000;

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`flow keys in the vault (${engine})`, () => {
    let home: TestStoreHome;
    let store: Store;
    let emu: Emulator;
    let wa: WhatsApp;
    const clock = new ManualClock();
    beforeAll(async () => {
      home = await createTestStoreHome(engine);
      store = await home.open();
      emu = createEmulator();
      wa = new WhatsApp({
        transport: createFetchTransport(emu.fetch),
        retry: { maxAttempts: 1 },
        configSource: {
          env: {
            CLOUD_API_ACCESS_TOKEN: emu.seed!.accessToken,
            WA_PHONE_NUMBER_ID: emu.seed!.phoneNumberId,
            WA_GRAPH_URL: 'https://graph.facebook.com',
          },
          envFile: false,
        },
      });
    });
    afterAll(async () => {
      await wa?.close();
      await emu?.close();
      await home?.cleanup();
    });

    it('generates, stores encrypted, uploads and checks; rotation keeps both keys for the grace period', async () => {
      const phone = emu.seed!.phoneNumberId;
      const custody = new FlowKeyCustody({ store: store.flowKeys, clock, graceMs: 2 * HOUR });
      const first = await custody.generate('acme', phone);
      expect(first.state).toBe('pending');
      // The private key is only ciphertext in the table.
      const rows = await rawQuery<{ private_ct: Buffer | Uint8Array }>(
        home,
        'SELECT private_ct FROM flow_keys',
      );
      expect(Buffer.from(rows[0]!.private_ct).toString('latin1')).not.toContain('PRIVATE KEY');
      expect(await custody.privateKeys(phone)).toEqual([]); // pending keys do not decrypt yet

      const active = await custody.upload(phone, wa.flows);
      expect(active).toMatchObject({ state: 'active', metaStatus: 'VALID' });
      expect((await wa.flows.getBusinessPublicKey())?.business_public_key).toBe(first.publicKeyPem.trim());
      expect((await custody.check(phone, wa.flows)).metaStatus).toBe('VALID');

      const forOld = encryptFlowRequest({ action: 'ping', version: '3.0' }, first.publicKeyPem).body;
      const second = await custody.rotate('acme', phone, wa.flows);
      await clock.advance(10_000); // past the in-memory cache
      const both = await custody.privateKeys(phone);
      expect(both).toHaveLength(2);
      const forNew = encryptFlowRequest({ action: 'ping', version: '3.0' }, second.publicKeyPem).body;
      expect(decryptFlowRequest(forOld, both).decryptedBody).toEqual({ action: 'ping', version: '3.0' });
      expect(decryptFlowRequest(forNew, both).decryptedBody).toEqual({ action: 'ping', version: '3.0' });
      const listed = await store.flowKeys.listByPhone(phone);
      expect(listed.map((k) => k.state).sort()).toEqual(['active', 'retiring']);

      // After the grace period the old key is refused (421) and its private half erased.
      await clock.advance(2 * HOUR);
      expect((await custody.retireDue()).map((k) => k.id)).toEqual([first.id]);
      const after = await custody.privateKeys(phone);
      expect(after).toHaveLength(1);
      expect(() => decryptFlowRequest(forOld, after)).toThrow(FlowCryptoError);
      const erased = await rawQuery<{ private_ct: unknown }>(
        home,
        "SELECT private_ct FROM flow_keys WHERE state = 'retired'",
      );
      expect(erased[0]?.private_ct).toBeNull();
      // Data key rotation counts (and re-encrypts) flow keys like every other encrypted column.
      const status = await store.keys.status();
      expect(status.keys.some((k) => (k.rowsByTable.flow_keys ?? 0) === 1)).toBe(true);
    });

    it('refuses bad input without changing anything', async () => {
      const custody = new FlowKeyCustody({ store: store.flowKeys, clock });
      await expect(custody.generate('acme', 'not-a-number')).rejects.toThrow(/numeric/);
      await expect(custody.upload('999', wa.flows)).rejects.toThrow(/no pending flow key/);
      const phone = emu.seed!.phoneNumberId;
      expect((await store.flowKeys.listByPhone(phone)).filter((k) => k.state === 'active')).toHaveLength(1);
    });
  });
}
