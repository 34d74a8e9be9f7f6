import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import type { Store } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import {
  createTestStoreHome,
  rawQuery,
  type TestEngine,
  type TestStoreHome,
  testMasterKey,
} from '../support/store.js';
import { draft } from './store-credential-contract.js';

announcePgSkip('vault-crypto-store');

const TOKEN_A = 'EAAGtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1';
const TOKEN_B = 'EAAGtokenBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB2';

async function expectCryptoError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, 'expected a CryptoError').toBeDefined();
  expect((caught as { code?: string }).code).toBe('CRYPTO');
  expect((caught as Error).message).toMatch(pattern);
  expectNoSecrets(
    `${(caught as Error).message} ${String((caught as Error).stack)}`,
    [TOKEN_A, TOKEN_B],
    'error',
  );
}

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`ciphertexts at rest (${engine})`, () => {
    let home: TestStoreHome;
    let store: Store;
    beforeAll(async () => {
      home = await createTestStoreHome(engine);
      store = await home.open();
    });
    afterAll(async () => home?.cleanup());

    async function fresh(id: string, token = TOKEN_A) {
      await store.credentials.delete(id);
      return store.credentials.insert(draft({ id, token: new Secret(token) }), 1);
    }

    it('stores ciphertext and a key id, not the token', async () => {
      await fresh('c-plain');
      const [row] = await rawQuery<{ token_ct: Buffer; key_id: string }>(
        home,
        'SELECT token_ct, key_id FROM credentials WHERE id = ?',
        ['c-plain'],
      );
      expect(Buffer.isBuffer(row?.token_ct)).toBe(true);
      expect(row?.token_ct.includes(Buffer.from(TOKEN_A))).toBe(false);
      expect(row?.key_id).toBe((await store.keys.status()).activeKeyId);
    });

    it('a tampered ciphertext fails with a CryptoError naming the row', async () => {
      await fresh('c-tamper');
      const [row] = await rawQuery<{ token_ct: Buffer }>(
        home,
        'SELECT token_ct FROM credentials WHERE id = ?',
        ['c-tamper'],
      );
      const bad = Buffer.from(row?.token_ct as Buffer);
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x80;
      await rawQuery(home, 'UPDATE credentials SET token_ct = ? WHERE id = ?', [bad, 'c-tamper']);
      await expectCryptoError(
        store.credentials.get('c-tamper'),
        /credentials\/c-tamper\/v1.*failed authentication/,
      );
      await expectCryptoError(store.credentials.list(), /failed authentication/);
      // Summaries read no ciphertext: metrics and routing keep working around a damaged row.
      expect((await store.credentials.listSummaries()).map((r) => r.id)).toContain('c-tamper');
      await store.credentials.delete('c-tamper');
    });

    it('a ciphertext copied to another row fails', async () => {
      await fresh('c-src', TOKEN_A);
      await fresh('c-dst', TOKEN_B);
      await rawQuery(
        home,
        'UPDATE credentials SET token_ct = (SELECT token_ct FROM credentials WHERE id = ?) WHERE id = ?',
        ['c-src', 'c-dst'],
      );
      await expectCryptoError(store.credentials.get('c-dst'), /credentials\/c-dst\/v1/);
      expect((await store.credentials.get('c-src'))?.token.reveal()).toBe(TOKEN_A);
      await store.credentials.delete('c-dst');
    });

    it('an old ciphertext replayed under a newer version fails', async () => {
      await fresh('c-replay', TOKEN_A);
      const [v1] = await rawQuery<{ token_ct: Buffer }>(
        home,
        'SELECT token_ct FROM credentials WHERE id = ?',
        ['c-replay'],
      );
      const updated = await store.credentials.update('c-replay', 1, { token: new Secret(TOKEN_B) }, 2);
      expect(updated?.version).toBe(2);
      await rawQuery(home, 'UPDATE credentials SET token_ct = ? WHERE id = ?', [v1?.token_ct, 'c-replay']);
      await expectCryptoError(store.credentials.get('c-replay'), /credentials\/c-replay\/v2/);
      await store.credentials.delete('c-replay');
    });

    it('a row pointing at a missing data key fails clearly', async () => {
      await fresh('c-nokey');
      await rawQuery(home, 'UPDATE credentials SET key_id = ? WHERE id = ?', ['dk_000000000000', 'c-nokey']);
      await expectCryptoError(
        store.credentials.get('c-nokey'),
        /data key dk_000000000000 is not in the keyring/,
      );
      await store.credentials.delete('c-nokey');
    });

    it('a row relabelled with another existing key id fails', async () => {
      await fresh('c-relabel');
      await store.keys.rotate();
      // The row is now on the new key; point it back at the retired key without re-encrypting.
      const status = await store.keys.status();
      const old = status.keys.find((k) => k.state !== 'active');
      await rawQuery(home, 'UPDATE credentials SET key_id = ? WHERE id = ?', [old?.keyId, 'c-relabel']);
      await expectCryptoError(store.credentials.get('c-relabel'), /failed authentication/);
      await store.credentials.delete('c-relabel');
    });

    it('opening the store with the wrong master key fails before any read', async () => {
      await fresh('c-master');
      await expect(home.open({ masterKey: testMasterKey() })).rejects.toMatchObject({
        code: 'CRYPTO',
        message: expect.stringMatching(/WACLOUD_MASTER_KEY is wrong/),
      });
    });

    it('a tampered wrapped data key is detected when the keyring loads', async () => {
      const other = await createTestStoreHome(engine);
      try {
        const s = await other.open();
        await s.credentials.insert(draft({ id: 'x', token: new Secret(TOKEN_A) }), 1);
        await s.close();
        const [k] = await rawQuery<{ key_id: string; wrapped_key: Buffer }>(
          other,
          'SELECT key_id, wrapped_key FROM data_keys',
        );
        const bad = Buffer.from(k?.wrapped_key as Buffer);
        bad[20] = (bad[20] as number) ^ 1;
        await rawQuery(other, 'UPDATE data_keys SET wrapped_key = ? WHERE key_id = ?', [bad, k?.key_id]);
        await expect(other.open()).rejects.toMatchObject({ code: 'CRYPTO' });
      } finally {
        await other.cleanup();
      }
    });
  });
}
