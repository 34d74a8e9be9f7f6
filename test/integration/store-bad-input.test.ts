import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { openStore } from '../../src/store/open-store.js';
import { StoreError } from '../../src/store/store-error.js';
import { CryptoError } from '../../src/vault/crypto/crypto-error.js';
import { MASTER_KEY_FILE } from '../../src/vault/crypto/master-key.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, rawQuery, type TestEngine, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

// The bad-input list, for what the other store tests do not already run on both engines: a missing or
// corrupt master key file when the store is opened from config alone (as `wacloud up` does), a database that is
// full (SQLite: PRAGMA max_page_count, also in store-faults; PostgreSQL: SQLSTATE 53100), and a data dir that
// cannot hold a database.
announcePgSkip('store-bad-input');

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

const TOKEN = `EAAGbadInputToken${'b'.repeat(30)}`;

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`bad input and faults (${engine})`, () => {
    let home: TestStoreHome | undefined;
    const dirs: string[] = [];
    afterEach(async () => {
      await home?.cleanup();
      home = undefined;
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    });
    /** The store as `wacloud up` opens it: from config only, the master key from the env or the key file. */
    const fromConfig = (h: TestStoreHome, dataDir: string, masterKey?: string) =>
      openStore(
        { dataDir, databaseUrl: h.pg?.url, masterKey: masterKey ? new Secret(masterKey) : undefined },
        { ...(h.pg ? { postgres: { schema: h.pg.schema } } : {}) },
      );

    it('a missing master key on a store that has data fails clearly and leaves no stray key file', async () => {
      home = await createTestStoreHome(engine);
      const h = home;
      // First start: a key file is generated (SQLite: next to the database; PostgreSQL: on this "host").
      const first = await fromConfig(h, h.dataDir);
      await first.credentials.insert(draft({ id: 'kept', token: new Secret(TOKEN) }), 1);
      await first.close();
      const keyFile = join(h.dataDir, MASTER_KEY_FILE);
      const original = readFileSync(keyFile);
      // The key file is lost (another host, a restore that forgot it): the next start must not make a new one stick.
      rmSync(keyFile);
      const err = await failure(fromConfig(h, h.dataDir));
      expect(err).toBeInstanceOf(CryptoError);
      expect(err.message).toMatch(
        /no master key: WACLOUD_MASTER_KEY is not set and .*master-key\.json did not exist, but this database already holds data keys wrapped by master key [0-9a-f]{16}/,
      );
      expect(existsSync(keyFile)).toBe(false);
      // Restoring the file is all it takes.
      writeFileSync(keyFile, original, { mode: 0o600 });
      const again = await fromConfig(h, h.dataDir);
      expect((await again.credentials.get('kept'))?.token.reveal()).toBe(TOKEN);
      await again.close();
    });

    it('a corrupt key file is a CryptoError; the file is not replaced and the database is not touched', async () => {
      home = await createTestStoreHome(engine);
      const h = home;
      const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-badkey-'));
      dirs.push(dataDir);
      const corrupt = '{"format":"wacloud-master-key","version":1,"key":"bm90IGEga2V5"}\n';
      writeFileSync(join(dataDir, MASTER_KEY_FILE), corrupt, { mode: 0o600 });
      const err = await failure(fromConfig(h, dataDir));
      expect(err).toBeInstanceOf(CryptoError);
      expect(err.message).toMatch(/master key file .* is corrupt \(the key is not 32 bytes of base64\)/);
      expect(readFileSync(join(dataDir, MASTER_KEY_FILE), 'utf8')).toBe(corrupt);
      // Not even migrated: the key is checked before the database is opened.
      if (h.pg) {
        const tables = await h.pg.query(
          'SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1',
          [h.pg.schema],
        );
        expect(tables.rows[0]?.n).toBe(0);
      } else {
        expect(existsSync(join(dataDir, 'wacloud.db'))).toBe(false);
      }
      writeFileSync(join(dataDir, MASTER_KEY_FILE), 'not json at all', { mode: 0o600 });
      expect((await failure(fromConfig(h, dataDir))).message).toMatch(
        /corrupt or unreadable \(it is not valid JSON\)/,
      );
    });

    it('a full database: a clear StoreError, nothing half-written, earlier rows intact, writes work again after', async () => {
      home = await createTestStoreHome(engine);
      const h = home;
      const store = await h.open();
      await store.credentials.insert(draft({ id: 'before', token: new Secret(TOKEN) }), 1);
      // SQLite: a size cap the next inserts overflow. PostgreSQL: the server's own disk_full error (SQLSTATE 53100),
      // raised by a trigger, since a real full disk cannot be made here.
      if (engine === 'sqlite') {
        await store.close();
        const [{ page_count: pages } = { page_count: 0 }] = await rawQuery<{ page_count: number }>(
          h,
          'PRAGMA page_count',
        );
        const capped = await h.open({ sqlite: { maxPageCount: pages + 1 } });
        await expectFull(capped);
        await capped.close();
      } else {
        await rawQuery(
          h,
          `CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
           BEGIN RAISE EXCEPTION 'could not extend file "base/16384/16385": No space left on device'
             USING ERRCODE = '53100'; END $$`,
        );
        await rawQuery(
          h,
          'CREATE TRIGGER disk_full BEFORE INSERT ON credentials FOR EACH ROW EXECUTE FUNCTION disk_full()',
        );
        await expectFull(store);
        await rawQuery(h, 'DROP TRIGGER disk_full ON credentials');
      }
      const after = await h.open();
      await after.credentials.insert(draft({ id: 'after' }), 3);
      expect((await after.credentials.get('before'))?.token.reveal()).toBe(TOKEN);
      expect(await after.credentials.get('after')).toBeDefined();

      async function expectFull(s: Awaited<ReturnType<TestStoreHome['open']>>): Promise<void> {
        const big = Array.from({ length: 400 }, (_, i) => `scope_${i}_${'s'.repeat(20)}`);
        let err: (Error & { code?: string }) | undefined;
        let i = 0;
        for (; i < 200 && !err; i++) {
          try {
            await s.credentials.insert(
              draft({ id: `big${i}`, scopes: big, token: new Secret(`${TOKEN}${i}`) }),
              2,
            );
          } catch (e) {
            err = e as Error & { code?: string };
          }
        }
        expect(err, 'the database never filled up').toBeInstanceOf(StoreError);
        expect(err?.message).toMatch(
          /inserting credential big\d+: the database is full \((SQLITE_FULL|PostgreSQL 53100)/,
        );
        expect(err?.message).toMatch(/nothing was written$/);
        expectNoSecrets(`${err?.message}${err?.stack}`, [TOKEN], 'the error');
        // The failed insert left nothing behind: no row, no ciphertext.
        const failedId = `big${i - 1}`;
        expect(await s.credentials.get(failedId)).toBeUndefined();
        expect(await rawQuery(h, 'SELECT id FROM credentials WHERE id = ?', [failedId])).toEqual([]);
        expect((await s.credentials.get('before'))?.token.reveal()).toBe(TOKEN);
      }
    });
  });
}

describe('a data dir that cannot hold a database (SQLite)', () => {
  it('is a clear StoreError naming the path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-notdir-'));
    try {
      writeFileSync(join(dir, 'file'), 'a file, not a directory');
      const err = await failure(
        openStore(
          { dataDir: join(dir, 'file', 'data'), databaseUrl: undefined, masterKey: undefined },
          { masterKey: { key: Buffer.alloc(32, 7), id: 'x', source: 'option' } },
        ),
      );
      expect(err).toBeInstanceOf(StoreError);
      expect(err.message).toMatch(/opening .*file\/data\/wacloud\.db failed on SQLite \(ENOTDIR\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
