import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { Secret } from '../../src/core/secret.js';
import type { Store } from '../../src/store/open-store.js';
import { repoRoot } from '../support/cli-process.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { until } from '../support/poll.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import { createTestStoreHome, rawQuery, type TestEngine, type TestStoreHome } from '../support/store.js';
import { draft } from './store-credential-contract.js';

announcePgSkip('store-rotation');

const tokenOf = (i: number) => `EAAGrotation${String(i).padStart(4, '0')}${'q'.repeat(24)}`;
const subSecretOf = (i: number) => `whsec_rotation_subscription_secret_${i}_abcdefgh`;
const verifierOf = (i: number) => `pkce-verifier-${i}-${'v'.repeat(40)}`;
const hashOf = (s: string) => createHash('sha256').update(s).digest('hex');

/** 25 credentials, 3 subscriptions, 3 OAuth states (2 with a verifier): 30 encrypted values. */
async function seed(store: Store): Promise<void> {
  for (let i = 0; i < 25; i++) {
    await store.credentials.insert(
      draft({ id: `c${String(i).padStart(2, '0')}`, token: new Secret(tokenOf(i)) }),
      1,
    );
  }
  for (let i = 0; i < 3; i++) {
    await store.subscriptions.create(
      {
        id: `s${i}`,
        tenantId: 't1',
        url: 'https://example.test/hook',
        secret: new Secret(subSecretOf(i)),
        events: [],
      },
      1,
    );
  }
  for (let i = 0; i < 3; i++) {
    await store.oauthStates.save({
      stateHash: hashOf(`state-${i}`),
      redirectUri: 'https://broker.test/callback',
      codeVerifier: i < 2 ? new Secret(verifierOf(i)) : undefined,
      scopes: ['whatsapp_business_messaging'],
      configId: undefined,
      tenantId: 't1',
      createdAtMs: 1,
      expiresAtMs: Number.MAX_SAFE_INTEGER,
    });
  }
}

/** Every encrypted value still decrypts to what was stored (`overrides`: credentials changed since). */
async function expectAllReadable(store: Store, overrides: Record<string, string> = {}): Promise<void> {
  const creds = await store.credentials.list();
  expect(creds).toHaveLength(25);
  for (const c of creds) {
    expect(c.token.reveal()).toBe(overrides[c.id] ?? tokenOf(Number(c.id.slice(1))));
  }
  for (let i = 0; i < 3; i++)
    expect((await store.subscriptions.get(`s${i}`))?.secret.reveal()).toBe(subSecretOf(i));
}

/**
 * Another instance's write under the retiring key, begun and not yet committed: credential `id` set back to the
 * ciphertext it had under that key (as an instance with a stale keyring writes). It commits once the rotation waits
 * on it (PostgreSQL: a lock request on credentials not granted) or has finished, whichever comes first; SQLite, whose
 * waiter blocks the event loop in the busy handler, commits on its own after a second (from another process, as
 * another instance would).
 */
async function holdStaleWrite(
  home: TestStoreHome,
  row: { id: string; token_ct: Buffer; key_id: string },
  rotationDone: () => boolean,
): Promise<{ committed: Promise<void> }> {
  if (home.pg) {
    const writer = new pg.Client({
      connectionString: home.pg.url.reveal(),
      options: `-c search_path=${home.pg.schema}`,
    });
    await writer.connect();
    await writer.query('BEGIN');
    await writer.query('UPDATE credentials SET token_ct = $1, key_id = $2 WHERE id = $3', [
      row.token_ct,
      row.key_id,
      row.id,
    ]);
    const pgHome = home.pg;
    const committed = (async () => {
      const deadline = Date.now() + 30_000;
      while (!rotationDone() && Date.now() < deadline) {
        const waiting = await pgHome.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND relation = 'credentials'::regclass",
        );
        if (Number(waiting.rows[0]?.n) > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await writer.query('COMMIT');
      await writer.end();
    })();
    return { committed };
  }
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const Sqlite = require('better-sqlite3');
       const db = new Sqlite(process.env.DB, { timeout: 20000 });
       db.exec('BEGIN IMMEDIATE');
       db.prepare('UPDATE credentials SET token_ct = ?, key_id = ? WHERE id = ?')
         .run(Buffer.from(process.env.CT, 'hex'), process.env.KEY, process.env.ID);
       process.stdout.write('held\\n');
       setTimeout(() => { db.exec('COMMIT'); db.close(); process.stdout.write('committed\\n'); }, 1000);`,
    ],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        DB: join(home.dataDir, 'wacloud.db'),
        CT: row.token_ct.toString('hex'),
        KEY: row.key_id,
        ID: row.id,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const said = (word: string) =>
    new Promise<void>((resolve, reject) => {
      const check = () => out.includes(word) && resolve();
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        check();
      });
      check();
      void exited.then(() => (out.includes(word) ? resolve() : reject(new Error(`writer: ${out}`))));
    });
  await said('held');
  return {
    committed: said('committed').then(async () => {
      expect(await exited).toBe(0);
    }),
  };
}

/** Default keyring refresh 60 s: a replaced key may be retired 2 min after its successor became active. */
const GRACE_MS = 120_000;

/** `rotate({ wait: true })`, advancing `clock` through the grace period when the rotation sleeps on it. */
async function rotateWaiting(
  store: Store,
  clock: ManualClock,
  options: Parameters<Store['keys']['rotate']>[0] = {},
) {
  let untilMs: number | undefined;
  let finished = false;
  const run = store.keys.rotate({
    ...options,
    wait: true,
    onWait: (ms) => {
      untilMs = ms;
    },
  });
  const settle = () => {
    finished = true;
  };
  void run.then(settle, settle);
  await until('the rotation to finish or wait on the clock', async () =>
    finished || clock.pendingSleepers > 0 ? true : undefined,
  );
  if (!finished && untilMs !== undefined) await clock.set(untilMs);
  return run;
}

function rowsOn(status: Awaited<ReturnType<Store['keys']['status']>>, keyId: string | undefined): number {
  return status.keys.find((k) => k.keyId === keyId)?.rows ?? -1;
}

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`key rotation (${engine})`, () => {
    let home: TestStoreHome | undefined;
    afterEach(async () => {
      await home?.cleanup();
      home = undefined;
    });

    it('status counts rows per key id and per table', async () => {
      home = await createTestStoreHome(engine);
      const store = await home.open();
      await seed(store);
      const status = await store.keys.status();
      expect(status.keys).toHaveLength(1);
      expect(status.keys[0]).toMatchObject({
        keyId: status.activeKeyId,
        state: 'active',
        rows: 30,
        rowsByTable: { credentials: 25, subscriptions: 3, oauth_states: 2 },
        masterKeyId: home.master.id,
      });
      expect(status.masterKeyId).toBe(home.master.id);
      expect(status.orphanRows).toEqual({});
    });

    it('a rotation that crashes midway loses nothing and the next run finishes it', async () => {
      home = await createTestStoreHome(engine);
      const clock = new ManualClock(Date.now());
      const store = await home.open({ clock });
      await seed(store);
      const before = await store.keys.status();
      const oldKey = before.activeKeyId;

      let seen = 0;
      await expect(
        store.keys.rotate({
          batchSize: 4,
          onProgress: () => {
            seen++;
            if (seen === 7) throw new Error('simulated crash after 7 rows');
          },
        }),
      ).rejects.toThrow(/simulated crash/);
      const mid = await store.keys.status();
      expect(mid.keys).toHaveLength(2);
      const newKey = mid.activeKeyId;
      expect(newKey).not.toBe(oldKey);
      expect(mid.keys.find((k) => k.keyId === oldKey)?.state).toBe('retiring');
      expect(rowsOn(mid, newKey)).toBe(7);
      expect(rowsOn(mid, oldKey)).toBe(23);
      await expectAllReadable(store);

      // Meanwhile a token changes: it is written with the new key and the resumed run has one row less to do.
      const fresh = 'EAAGchangedDuringRotation000000000000000';
      const c20 = await store.credentials.get('c20');
      await store.credentials.update('c20', c20?.version ?? 0, { token: new Secret(fresh) }, 5);

      // A process restart: a new store on the same data resumes (adds no key).
      // It runs after the grace period (no instance can still be writing with the old key), so it also retires.
      await clock.advance(GRACE_MS);
      const reopened = await home.open({ clock });
      const report = await reopened.keys.rotate({ batchSize: 4 });
      expect(report).toMatchObject({
        resumed: true,
        addedKeyId: undefined,
        activeKeyId: newKey,
        reencrypted: 22,
        remaining: 0,
        retired: [oldKey],
        retiring: [],
        retireAfterMs: null,
      });
      const after = await reopened.keys.status();
      expect(after.keys.find((k) => k.keyId === oldKey)).toMatchObject({ state: 'retired', rows: 0 });
      expect(after.keys.find((k) => k.keyId === oldKey)?.retiredAtMs).toEqual(expect.any(Number));
      expect(rowsOn(after, newKey)).toBe(30);
      await expectAllReadable(reopened, { c20: fresh });
      const consumed = await reopened.oauthStates.consume(hashOf('state-1'), 10);
      expect(consumed.status === 'ok' && consumed.record.codeVerifier?.reveal()).toBe(verifierOf(1));

      // A later rotation adds another key, waits out the grace period and retires the one it replaced.
      const again = await rotateWaiting(reopened, clock);
      expect(again.resumed).toBe(false);
      expect(again.addedKeyId).toMatch(/^dk_[0-9a-f]{12}$/);
      expect(again.retired).toEqual([newKey]);
      const final = await reopened.keys.status();
      expect(final.keys.map((k) => k.state).sort()).toEqual(['active', 'retired', 'retired']);
      expect(rowsOn(final, again.addedKeyId)).toBe(29);

      const audit = await reopened.audit.list({ limit: 10 });
      expect(audit.filter((a) => a.event === 'keys.rotated')).toHaveLength(2);
      expectNoSecrets(JSON.stringify(audit), [tokenOf(1), fresh, subSecretOf(0)], 'audit log');
    });

    it('a row whose token changes during the rotation keeps the new token (per-row compare-and-set)', async () => {
      home = await createTestStoreHome(engine);
      const store = await home.open();
      await seed(store);
      const fresh = 'EAAGwrittenWhileRotating111111111111111';
      let first = true;
      const report = await store.keys.rotate({
        batchSize: 200,
        onProgress: async () => {
          if (!first) return;
          first = false;
          // c10 was already read in this batch with its old ciphertext; change it now.
          const c10 = await store.credentials.get('c10');
          await store.credentials.update('c10', c10?.version ?? 0, { token: new Secret(fresh) }, 9);
        },
      });
      expect(report.conflicts).toBe(1);
      expect(report.reencrypted).toBe(29);
      expect(report.remaining).toBe(0);
      await expectAllReadable(store, { c10: fresh });
      expect((await store.credentials.get('c10'))?.version).toBe(2);
    });

    it('a write under the retiring key that commits while the rotation retires keys keeps that key in service', async () => {
      home = await createTestStoreHome(engine);
      const clock = new ManualClock(Date.now());
      const a = await home.open({ clock, sqlite: { busyTimeoutMs: 20_000 } });
      await seed(a);
      const oldKey = (await a.keys.status()).activeKeyId as string;
      const [before] = await rawQuery<{ id: string; token_ct: Buffer; key_id: string }>(
        home,
        'SELECT id, token_ct, key_id FROM credentials WHERE id = ?',
        ['c03'],
      );
      expect(before?.key_id).toBe(oldKey);
      let done = false;
      let stale: { committed: Promise<void> } | undefined;
      const report = await a.keys
        .rotate({
          onProgress: async (p) => {
            // The last row is re-encrypted: every row is on the new key, and the stale write starts now. The grace
            // period is over by the retirement step, so only the count under the lock keeps the key.
            if (p.done === 30) {
              await clock.advance(GRACE_MS);
              stale = await holdStaleWrite(home as TestStoreHome, before as never, () => done);
            }
          },
        })
        .finally(() => {
          done = true;
        });
      await stale?.committed;
      expect(stale).toBeDefined();
      // The write was counted under the lock that retires keys: the old key is not retired while a row uses it.
      const status = await a.keys.status();
      expect(status.keys.find((k) => k.keyId === oldKey)).toMatchObject({ state: 'retiring', rows: 1 });
      expect(report.retired).toEqual([]);
      expect(report).toMatchObject({ retiring: [oldKey], retireAfterMs: null, remaining: 1 });
      expect((await a.credentials.get('c03'))?.token.reveal()).toBe(tokenOf(3));
      // The next run is a resume: it moves that row and only then retires the key.
      const next = await a.keys.rotate();
      expect(next).toMatchObject({ resumed: true, reencrypted: 1, retired: [oldKey], remaining: 0 });
      expect((await a.keys.status()).keys.find((k) => k.keyId === oldKey)).toMatchObject({
        state: 'retired',
        rows: 0,
      });
      await expectAllReadable(a);
    });

    it('an instance with a stale keyring writes under the retiring key, which is retired only after the grace period', async () => {
      home = await createTestStoreHome(engine);
      const clock = new ManualClock(Date.now());
      const a = await home.open({ clock });
      const b = await home.open({ clock });
      // Opened before the rotation and reading nothing afterwards: its keyring (60 s refresh) keeps the old active key.
      const stale = await home.open({ clock });
      await seed(a);
      const oldKey = (await a.keys.status()).activeKeyId as string;
      const first = await a.keys.rotate();
      const newKey = first.activeKeyId;
      const activatedAt = clock.now();
      // Everything is moved, but the old key stays retiring: an instance may still encrypt with it.
      expect(first).toMatchObject({
        reencrypted: 30,
        remaining: 0,
        retired: [],
        retiring: [oldKey],
        retireAfterMs: activatedAt + GRACE_MS,
        retirementGraceMs: GRACE_MS,
      });
      const status = await a.keys.status();
      expect(status.keys.find((k) => k.keyId === oldKey)).toMatchObject({
        state: 'retiring',
        rows: 0,
        retireAfterMs: activatedAt + GRACE_MS,
      });
      expect(status.keys.find((k) => k.keyId === newKey)?.retireAfterMs).toBeNull();
      // b reads a row under the new key: its keyring reloads on the unknown key id, so its next write uses it.
      expect((await b.credentials.get('c03'))?.token.reveal()).toBe(tokenOf(3));
      await b.credentials.insert(draft({ id: 'from-b', token: new Secret(tokenOf(99)) }), 1);
      const keyOf = async (id: string) =>
        (
          await rawQuery<{ key_id: string }>(
            home as TestStoreHome,
            'SELECT key_id FROM credentials WHERE id = ?',
            [id],
          )
        )[0]?.key_id;
      expect(await keyOf('from-b')).toBe(newKey);

      // Just under one refresh interval later the stale instance still writes with the old key...
      await clock.advance(59_999);
      await stale.credentials.insert(draft({ id: 'from-stale', token: new Secret(tokenOf(98)) }), 1);
      expect(await keyOf('from-stale')).toBe(oldKey);
      // ...which is still retiring (not retired) and still decrypts.
      const mid = await a.keys.status();
      expect(mid.keys.find((k) => k.keyId === oldKey)).toMatchObject({ state: 'retiring', rows: 1 });
      expect((await a.credentials.get('from-stale'))?.token.reveal()).toBe(tokenOf(98));
      // A run inside the grace period moves that row but does not retire the key.
      const early = await a.keys.rotate();
      expect(early).toMatchObject({
        resumed: true,
        reencrypted: 1,
        remaining: 0,
        retired: [],
        retiring: [oldKey],
        retireAfterMs: activatedAt + GRACE_MS,
      });
      // The stale instance writes with the old key once more; then its refresh interval passes and it moves on.
      await stale.credentials.insert(draft({ id: 'from-stale-2', token: new Secret(tokenOf(97)) }), 1);
      expect(await keyOf('from-stale-2')).toBe(oldKey);
      await clock.advance(1);
      await stale.credentials.insert(draft({ id: 'from-stale-3', token: new Secret(tokenOf(96)) }), 1);
      expect(await keyOf('from-stale-3')).toBe(newKey);

      // After the grace period a later run moves the row written meanwhile and only then retires the key.
      await clock.set(activatedAt + GRACE_MS);
      const last = await a.keys.rotate();
      expect(last).toMatchObject({
        resumed: true,
        reencrypted: 1,
        remaining: 0,
        retired: [oldKey],
        retiring: [],
        retireAfterMs: null,
      });
      const end = await a.keys.status();
      expect(end.keys.find((k) => k.keyId === oldKey)).toMatchObject({
        state: 'retired',
        rows: 0,
        retireAfterMs: null,
      });
      expect(rowsOn(end, newKey)).toBe(34);
      expect((await a.credentials.get('from-stale-2'))?.token.reveal()).toBe(tokenOf(97));
    });

    it('rotate with wait sleeps out the grace period, moves what a stale instance wrote meanwhile, then retires', async () => {
      home = await createTestStoreHome(engine);
      const clock = new ManualClock(Date.now());
      const a = await home.open({ clock });
      const stale = await home.open({ clock });
      await seed(a);
      const oldKey = (await a.keys.status()).activeKeyId as string;
      let waitedUntil: number | undefined;
      let finished = false;
      const run = a.keys
        .rotate({
          wait: true,
          onWait: (ms) => {
            waitedUntil = ms;
          },
        })
        .finally(() => {
          finished = true;
        });
      await until('the rotation to wait on the clock', async () =>
        clock.pendingSleepers > 0 ? true : undefined,
      );
      expect(waitedUntil).toBe(clock.now() + GRACE_MS);
      expect(finished).toBe(false);
      // While it waits, the stale instance writes under the old key.
      await stale.credentials.insert(draft({ id: 'while-waiting', token: new Secret(tokenOf(95)) }), 1);
      expect((await a.keys.status()).keys.find((k) => k.keyId === oldKey)).toMatchObject({
        state: 'retiring',
        rows: 1,
      });
      await clock.set(waitedUntil as number);
      const report = await run;
      expect(report).toMatchObject({ reencrypted: 31, remaining: 0, retired: [oldKey], retiring: [] });
      expect((await a.keys.status()).keys.find((k) => k.keyId === oldKey)).toMatchObject({
        state: 'retired',
        rows: 0,
      });
      expect((await a.credentials.get('while-waiting'))?.token.reveal()).toBe(tokenOf(95));
    });
  });
}
