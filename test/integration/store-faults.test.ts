import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { openStore } from '../../src/store/open-store.js';
import { StoreError } from '../../src/store/store-error.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import {
  createTestStoreHome,
  rawQuery,
  type TestEngine,
  type TestStoreHome,
  testMasterKey,
} from '../support/store.js';
import { draft } from './store-credential-contract.js';

announcePgSkip('store-faults');

const PASSWORD = 'SuperSecretPassw0rd-do-not-print';

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a failure');
}

describe('PostgreSQL unreachable', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'wacloud-faults-'));
    dirs.push(d);
    return d;
  };

  it('a closed port is a clear StoreError at once, without the password', async () => {
    const started = Date.now();
    const err = await failure(
      openStore(
        {
          dataDir: dataDir(),
          databaseUrl: new Secret(`postgres://app:${PASSWORD}@127.0.0.1:1/wacloud`),
          masterKey: undefined,
        },
        { masterKey: testMasterKey() },
      ),
    );
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe('STORE');
    expect(err.message).toMatch(/cannot reach PostgreSQL \(ECONNREFUSED\)/);
    expect(`${err.message}${err.stack}`).not.toContain(PASSWORD);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a server that accepts but never answers times out instead of hanging', async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const started = Date.now();
      const err = await failure(
        openStore(
          {
            dataDir: dataDir(),
            databaseUrl: new Secret(`postgres://app:${PASSWORD}@127.0.0.1:${port}/x`),
            masterKey: undefined,
          },
          { masterKey: testMasterKey(), postgres: { connectTimeoutMs: 300 } },
        ),
      );
      expect(err).toBeInstanceOf(StoreError);
      expect(err.message).toMatch(/cannot reach PostgreSQL \(connection timeout\)/);
      expect(err.message).not.toContain(PASSWORD);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('SQLite faults', () => {
  let home: TestStoreHome | undefined;
  afterEach(async () => {
    await home?.cleanup();
    home = undefined;
  });

  it('a full disk (max_page_count) is a clear StoreError and leaves no half-written row', async () => {
    home = await createTestStoreHome('sqlite');
    const first = await home.open();
    await first.credentials.insert(draft({ id: 'before' }), 1);
    await first.close();
    const [{ page_count: pages } = { page_count: 0 }] = await rawQuery<{ page_count: number }>(
      home,
      'PRAGMA page_count',
    );
    const store = await home.open({ sqlite: { maxPageCount: pages + 2 } });
    const big = Array.from({ length: 400 }, (_, i) => `scope_${i}_${'s'.repeat(20)}`);
    let stored = 0;
    let err: (Error & { code?: string }) | undefined;
    for (let i = 0; i < 200 && !err; i++) {
      try {
        await store.credentials.insert(draft({ id: `big${i}`, scopes: big }), 2);
        stored++;
      } catch (e) {
        err = e as Error & { code?: string };
        expect(await store.credentials.get(`big${i}`)).toBeUndefined();
      }
    }
    expect(err, 'the size cap was never hit').toBeDefined();
    expect(err).toBeInstanceOf(StoreError);
    expect(err?.code).toBe('STORE');
    expect(err?.message).toMatch(/database is full \(SQLITE_FULL/);
    expect(err?.message).toMatch(/nothing was written/);
    // Everything acknowledged is still there and readable.
    const all = await store.credentials.list();
    expect(all).toHaveLength(stored + 1);
    // Without the cap, writes work again.
    await store.close();
    const roomy = await home.open();
    await roomy.credentials.insert(draft({ id: 'after' }), 3);
    expect(await roomy.credentials.get('after')).toBeDefined();
  });

  /** Another process holding SQLite's write lock for `holdMs`; resolves once it holds it, with its exit. */
  async function lockFromAnotherProcess(
    dataDir: string,
    holdMs: number,
  ): Promise<{ exited: Promise<number | null> }> {
    const child = spawn(
      process.execPath,
      [
        '-e',
        `const D = require('better-sqlite3'); const db = new D(process.argv[1]); db.exec('BEGIN IMMEDIATE');
         process.stdout.write('locked\\n'); setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});`,
        join(dataDir, 'wacloud.db'),
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('locked')) resolve();
      });
      void exited.then((code) => reject(new Error(`lock holder exited early (${code})`)));
    });
    return { exited };
  }

  it('waits (busy timeout) while another process holds the write lock, then writes', async () => {
    home = await createTestStoreHome('sqlite');
    const store = await home.open({ sqlite: { busyTimeoutMs: 5_000 } });
    const holder = await lockFromAnotherProcess(home.dataDir, 400);
    const started = Date.now();
    await store.credentials.insert(draft({ id: 'after-lock' }), 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(await holder.exited).toBe(0);
    expect(await store.credentials.get('after-lock')).toBeDefined();
  });

  it('a write lock held longer than the busy timeout is a clear StoreError, and nothing is written', async () => {
    home = await createTestStoreHome('sqlite');
    const store = await home.open({ sqlite: { busyTimeoutMs: 200 } });
    const holder = await lockFromAnotherProcess(home.dataDir, 1_200);
    const err = await failure(store.credentials.insert(draft({ id: 'blocked' }), 1));
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toMatch(/locked by another process \(SQLITE_BUSY\)/);
    expect(await holder.exited).toBe(0);
    expect(await store.credentials.get('blocked')).toBeUndefined();
    await store.credentials.insert(draft({ id: 'blocked' }), 2);
  });

  it('a file that is not a database is a clear StoreError', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-corrupt-'));
    try {
      writeFileSync(join(dataDir, 'wacloud.db'), Buffer.alloc(8192, 0x41));
      const err = await failure(
        openStore({ dataDir, databaseUrl: undefined, masterKey: undefined }, { masterKey: testMasterKey() }),
      );
      expect(err).toBeInstanceOf(StoreError);
      expect(err.message).toMatch(/corrupt or not a database/);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`concurrency and migrations (${engine})`, () => {
    let home: TestStoreHome | undefined;
    afterEach(async () => {
      await home?.cleanup();
      home = undefined;
    });

    it('two stores opening a fresh database at once migrate once and share one active key', async () => {
      home = await createTestStoreHome(engine);
      const h = home;
      const [a, b] = await Promise.all([h.open(), h.open()]);
      const versions = await rawQuery<{ version: number }>(h, 'SELECT version FROM wacloud_migrations');
      expect(versions.map((v) => Number(v.version))).toEqual(MIGRATIONS.map((m) => m.version));
      const keys = await rawQuery<{ key_id: string }>(
        h,
        "SELECT key_id FROM data_keys WHERE state = 'active'",
      );
      expect(keys).toHaveLength(1);
      // Each can read what the other wrote.
      await a.credentials.insert(
        draft({ id: 'from-a', token: new Secret('EAAGfromA0000000000000000000') }),
        1,
      );
      expect((await b.credentials.get('from-a'))?.token.reveal()).toBe('EAAGfromA0000000000000000000');
    });

    it('two store instances racing to update one credential: one wins, the other gets undefined and can retry', async () => {
      home = await createTestStoreHome(engine);
      const a = await home.open();
      const b = await home.open();
      await a.credentials.insert(draft({ id: 'race' }), 1);
      for (let round = 1; round <= 5; round++) {
        const current = await a.credentials.get('race');
        const v = current?.version ?? 0;
        const results = await Promise.all([
          a.credentials.update('race', v, { token: new Secret(`EAAGroundA${round}xxxxxxxxxxxxxxxx`) }, round),
          b.credentials.update('race', v, { token: new Secret(`EAAGroundB${round}xxxxxxxxxxxxxxxx`) }, round),
        ]);
        expect(results.filter(Boolean)).toHaveLength(1);
        const after = await b.credentials.get('race');
        expect(after?.version).toBe(v + 1);
        expect(after?.token.reveal()).toBe(results.find(Boolean)?.token.reveal());
      }
    });

    it('two sweepers claiming due credentials at once get disjoint sets', async () => {
      home = await createTestStoreHome(engine);
      const a = await home.open();
      const b = await home.open();
      for (let i = 0; i < 40; i++) await a.credentials.insert(draft({ id: `due${i}`, nextCheckAtMs: i }), 1);
      const [x, y] = await Promise.all([
        a.credentials.claimDue(1_000, 25, 'A', 60_000),
        b.credentials.claimDue(1_000, 25, 'B', 60_000),
      ]);
      const ids = [...x, ...y].map((r) => r.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect(ids.length).toBe(40);
    });

    it('refuses a database whose schema is newer than this code', async () => {
      home = await createTestStoreHome(engine);
      const s = await home.open();
      await s.close();
      await rawQuery(home, 'INSERT INTO wacloud_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)', [
        999,
        'from the future',
        1,
      ]);
      const err = await failure(home.open());
      expect(err).toBeInstanceOf(StoreError);
      expect(err.message).toMatch(/schema is version 999, newer than this wacloud knows/);
    });
  });
}
