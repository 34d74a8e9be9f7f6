import { createHash, randomBytes } from 'node:crypto';
import { type Dirent, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../src/core/secret.js';
import { dueCredentialIds } from '../../src/store/credentials.js';
import { NEVER_MS } from '../../src/store/engine.js';
import { openStore, type Store } from '../../src/store/open-store.js';
import { announcePgSkip, pgTestUrl } from '../support/pg.js';
import { announceSkip } from '../support/require-all.js';
import { type PrivatePg, privatePgUnavailable, startPrivatePg } from '../support/scale-private-pg.js';
import { expectNoSecrets } from '../support/secret-scan.js';
import {
  createTestStoreHome,
  rawQuery,
  type TestEngine,
  type TestStoreHome,
  testMasterKey,
} from '../support/store.js';
import { draft } from './store-credential-contract.js';

announcePgSkip('store-scan');
const privatePgSkip = privatePgUnavailable();
if (privatePgSkip) announceSkip('store-scan', 'the PostgreSQL data-directory scan', privatePgSkip);

/** Alphanumeric, like Meta's tokens (the scrubber that guards free text in audit details knows that shape). */
const secretText = () =>
  randomBytes(40)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 32);

/** Everything secret this test stores; the scan looks for each one (whole and in 12-char pieces). */
function makeSecrets() {
  return {
    tokens: Array.from({ length: 6 }, () => `EAAG${secretText()}`),
    updated: `EAAG${secretText()}`,
    subscription: `whsec_${secretText()}`,
    verifier: `pkce_${secretText()}`,
    apiKey: `wck_abcd1234_${secretText()}`,
    state: `state_${secretText()}`,
    /** A customer's message text: in a webhook body and in the delivery payload made from it. */
    message: `hello ${secretText()} from a customer`,
  };
}

async function storeSecrets(store: Store, s: ReturnType<typeof makeSecrets>): Promise<void> {
  for (const [i, t] of s.tokens.entries()) {
    await store.credentials.insert(draft({ id: `scan${i}`, token: new Secret(t) }), 1);
  }
  await store.credentials.update('scan0', 1, { token: new Secret(s.updated) }, 2);
  await store.subscriptions.create(
    { tenantId: 't', url: 'https://example.test/h', secret: new Secret(s.subscription), events: ['*'] },
    1,
  );
  await store.oauthStates.save({
    stateHash: createHash('sha256').update(s.state).digest('hex'),
    redirectUri: 'https://broker.test/cb',
    codeVerifier: new Secret(s.verifier),
    scopes: [],
    configId: undefined,
    tenantId: 't',
    createdAtMs: 1,
    expiresAtMs: 10_000,
  });
  // Customer content: a webhook body (group-commit path and single insert) and a delivery payload carrying its text.
  const body = (n: number) =>
    Buffer.from(
      JSON.stringify({ entry: [{ n, changes: [{ value: { messages: [{ text: { body: s.message } }] } }] }] }),
    );
  await store.inbox.insertMany(
    [{ body: body(1), signatureValid: true, dedupeKey: 'scan-1', receivedAtMs: 1 }],
    { owner: 'scan', expiresAtMs: 10 },
  );
  await store.inbox.insert({ body: body(2), signatureValid: true, dedupeKey: 'scan-2', receivedAtMs: 1 });
  const sub = (await store.subscriptions.listByTenant('t'))[0];
  await store.deliveries.enqueue(
    {
      subscriptionId: sub?.id as string,
      tenantId: 't',
      eventId: 'scan-event',
      eventType: 'message',
      payload: JSON.stringify({ type: 'whatsapp.message', data: { text: { body: s.message } } }),
    },
    1,
  );
  // Sealed, not lost: both read back whole.
  const bodies = (await store.inbox.recent(10)).map((i) => i.body.toString('utf8'));
  expect(bodies.filter((b) => b.includes(s.message))).toHaveLength(2);
  expect((await store.deliveries.listByTenant('t'))[0]?.payload).toContain(s.message);
  await store.apiKeys.insert(
    {
      keyId: 'abcd1234',
      hash: createHash('sha256').update(s.apiKey).digest('hex'),
      tenantId: null,
      label: 'admin',
    },
    1,
  );
  await store.audit.append(
    {
      event: 'credential.refreshed',
      credentialId: 'scan0',
      detail: { token: new Secret(s.updated), note: `Bearer ${s.tokens[1]}` },
    },
    3,
  );
}

function allSecrets(s: ReturnType<typeof makeSecrets>, home: Pick<TestStoreHome, 'master'>): string[] {
  return [
    ...s.tokens,
    s.updated,
    s.subscription,
    s.verifier,
    s.apiKey,
    s.state,
    s.message,
    home.master.key.toString('base64'),
    home.master.key.toString('hex'),
  ];
}

for (const engine of ['sqlite', 'postgres'] as TestEngine[]) {
  describe.skipIf(engine === 'postgres' && !pgTestUrl)(`no plaintext at rest (${engine})`, () => {
    let home: TestStoreHome;
    beforeAll(async () => {
      home = await createTestStoreHome(engine);
    });
    afterAll(async () => home?.cleanup());

    it('no token, secret, verifier, API key or master key appears in the stored bytes', async () => {
      const s = makeSecrets();
      const store = await home.open();
      await storeSecrets(store, s);
      const secrets = allSecrets(s, home);
      const scan = async (where: string) => {
        if (engine === 'sqlite') {
          for (const f of ['wacloud.db', 'wacloud.db-wal']) {
            const path = join(home.dataDir, f);
            if (!existsSync(path)) continue;
            const bytes = readFileSync(path);
            expectNoSecrets(bytes.toString('latin1'), secrets, `${f} (${where})`);
            expect(bytes.includes(home.master.key), `${f} holds the master key bytes`).toBe(false);
          }
        } else {
          const tables = await rawQuery<{ table_name: string }>(
            home,
            'SELECT table_name FROM information_schema.tables WHERE table_schema = ?',
            [home.pg?.schema],
          );
          expect(tables.length).toBeGreaterThanOrEqual(10);
          for (const { table_name } of tables) {
            const rows = await rawQuery(home, `SELECT * FROM ${table_name}`);
            const text = rows
              .map((r) =>
                Object.values(r)
                  .map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v)))
                  .join('\u0000'),
              )
              .join('\n');
            expectNoSecrets(text, secrets, `table ${table_name} (${where})`);
          }
        }
      };
      await scan('open, WAL not checkpointed');
      await store.close();
      await scan('closed');
      // Sanity: the scan can see what is there (the tokens are readable through the store).
      const again = await home.open();
      expect((await again.credentials.get('scan1'))?.token.reveal()).toBe(s.tokens[1]);
      expect((await again.credentials.get('scan0'))?.token.reveal()).toBe(s.updated);
    });
  });

  describe.skipIf(engine === 'postgres' && !pgTestUrl)(
    `the renewal sweep reads only due rows (${engine})`,
    () => {
      let home: TestStoreHome;
      let store: Store;
      beforeAll(async () => {
        home = await createTestStoreHome(engine);
        store = await home.open();
        // 100k credentials that are not due, straight in SQL (their ciphertext is fake: decoding one would throw, so
        // a sweep that touched them would fail); 5k of them are "never". Then 10 real, due credentials.
        const series =
          engine === 'postgres'
            ? 'SELECT g AS n FROM generate_series(1, 100000) AS g'
            : 'WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000) SELECT n FROM s';
        await rawQuery(
          home,
          `INSERT INTO credentials (id, tenant_id, kind, app_id, subject_id, scopes, target_ids, token_ct, key_id, version,
           status, next_check_at_ms, failures, created_at_ms, updated_at_ms)
         SELECT 'bulk' || n, 't', 'system-user', '1', NULL, '[]', '[]', ?, 'dk_bulk', 1, 'active',
           CASE WHEN n > 95000 THEN ${NEVER_MS} ELSE 1000000 + n END, 0, 1, 1
         FROM (${series}) AS seq`,
          [Buffer.from('not-a-real-ciphertext')],
        );
        for (let i = 1; i <= 10; i++) {
          await store.credentials.insert(
            draft({ id: `due${String(i).padStart(2, '0')}`, nextCheckAtMs: i * 10 }),
            1,
          );
        }
        await rawQuery(home, engine === 'postgres' ? 'ANALYZE credentials' : 'ANALYZE');
      }, 60_000);
      afterAll(async () => home?.cleanup());

      it('the due-row query uses the partial next-check index', async () => {
        if (engine === 'sqlite') {
          const db = new BetterSqlite3(join(home.dataDir, 'wacloud.db'), { readonly: true });
          const k = new Kysely<unknown>({ dialect: new SqliteDialect({ database: db }) });
          try {
            const q = dueCredentialIds(500, 100, 'sqlite').compile(k);
            const plan = db
              .prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
              .all(...(q.parameters as unknown[]))
              .map((r) => (r as { detail: string }).detail)
              .join('\n');
            expect(plan).toMatch(/credentials USING INDEX credentials_next_check/);
            expect(plan).not.toMatch(/SCAN credentials(?! USING)/);
          } finally {
            await k.destroy();
          }
        } else {
          const pool = new pg.Pool({
            connectionString: pgTestUrl,
            options: `-c search_path=${home.pg?.schema}`,
            max: 1,
          });
          const k = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) });
          try {
            const q = dueCredentialIds(500, 100, 'postgres').compile(k);
            const res = await pool.query(
              `EXPLAIN (ANALYZE, FORMAT JSON) ${q.sql}`,
              q.parameters as unknown[],
            );
            const plan = JSON.stringify(res.rows[0]);
            expect(plan).toContain('credentials_next_check');
            expect(plan).not.toContain('"Node Type":"Seq Scan"');
            // The index scan node returned the 10 due rows, not 100k.
            const rowsRead = [
              ...plan.matchAll(/"Index Name":"credentials_next_check"[^}]*?"Actual Rows":(\d+)/g),
            ].map((m) => Number(m[1]));
            expect(rowsRead.length).toBeGreaterThan(0);
            expect(Math.max(...rowsRead)).toBeLessThanOrEqual(10);
          } finally {
            await k.destroy();
          }
        }
      });

      it('claimDue over 100k rows leases exactly the due ones', async () => {
        const claimed = await store.credentials.claimDue(500, 1_000, 'sweeper', 60_000);
        expect(claimed.map((r) => r.id)).toEqual(
          Array.from({ length: 10 }, (_, i) => `due${String(i + 1).padStart(2, '0')}`),
        );
        expect(await store.credentials.claimDue(500, 1_000, 'other', 60_000)).toEqual([]);
      });
    },
  );
}

/** Every regular file under `root`, recursively (files that vanish while walking, such as temp stats, are skipped). */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) out.push(path);
    }
  };
  walk(root);
  return out;
}

/**
 * The PostgreSQL files themselves, not what SELECT returns: heap pages, TOAST, WAL, commit log, stats, the server
 * log. A private cluster (initdb as the postgres user), so the test can read its data directory and stop it.
 */
describe.skipIf(privatePgSkip !== undefined)('no plaintext at rest in the PostgreSQL data directory', () => {
  let server: PrivatePg | undefined;
  let store: Store | undefined;
  let admin: pg.Client | undefined;
  afterAll(async () => {
    await store?.close();
    await admin?.end().catch(() => {});
    server?.destroy();
  });

  it('heap, TOAST and WAL files hold no token, secret, verifier, API key or master key; a canary in a plain column is found', async () => {
    server = await startPrivatePg();
    const master = testMasterKey();
    const url = new Secret(server.url, 'database-url');
    store = await openStore(
      { dataDir: '/nonexistent', databaseUrl: url, masterKey: undefined },
      { masterKey: master },
    );
    admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    // No compression anywhere: a plaintext that leaked into a large value would otherwise sit pglz-compressed in the
    // TOAST table and escape a byte scan. EXTERNAL moves large values out of line, verbatim.
    const cols = await admin.query<{ table_name: string; column_name: string }>(
      `SELECT table_name, column_name FROM information_schema.columns
       WHERE table_schema = 'public' AND data_type IN ('text', 'bytea')`,
    );
    expect(cols.rows.length).toBeGreaterThan(20);
    for (const c of cols.rows)
      await admin.query(`ALTER TABLE ${c.table_name} ALTER COLUMN ${c.column_name} SET STORAGE EXTERNAL`);

    const s = makeSecrets();
    await storeSecrets(store, s);
    const secrets = allSecrets(s, { master });
    // The secrets' other spellings too (a column that stored hex or base64 of a token would be just as plain).
    const encoded = [...s.tokens, s.updated, s.subscription, s.verifier, s.apiKey, s.state].flatMap((x) => [
      Buffer.from(x).toString('hex'),
      Buffer.from(x).toString('base64'),
    ]);
    // Positive controls: plaintext the store is meant to keep as it is. A short canary in a tenant's name (heap),
    // a long one in its metadata (out of line: TOAST).
    const canary = `canary${secretText()}`;
    const toastCanary = `toastcanary${secretText()}`;
    await store.tenants.create(
      { id: 't', name: `Tenant ${canary}`, metadata: { notes: `${toastCanary} `.repeat(300) } },
      1,
    );
    await admin.query('CHECKPOINT');
    await admin.query('SELECT pg_switch_wal()');
    await admin.query('CHECKPOINT');
    const dataDir = (await admin.query<{ data_directory: string }>('SHOW data_directory')).rows[0]
      ?.data_directory as string;
    const relFile = async (sqlExpr: string) =>
      join(
        dataDir,
        (await admin?.query<{ p: string }>(`SELECT pg_relation_filepath(${sqlExpr}) AS p`))?.rows[0]
          ?.p as string,
      );
    const heapFile = await relFile("'tenants'::regclass");
    const toastFile = await relFile("(SELECT reltoastrelid FROM pg_class WHERE oid = 'tenants'::regclass)");

    const scan = (where: string) => {
      const files = [...filesUnder(dataDir), join(dirname(dataDir), 'log')].filter((f) => existsSync(f));
      const found = { heap: false, toast: false, wal: 0, files: files.length, bytes: 0 };
      const texts: { name: string; text: string }[] = [];
      for (const f of files) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(f);
        } catch {
          continue; // removed meanwhile (a temp file)
        }
        found.bytes += bytes.length;
        const name = `${relative(dataDir, f)} (${where})`;
        expect(bytes.includes(master.key), `${name} holds the master key bytes`).toBe(false);
        const text = bytes.toString('latin1');
        texts.push({ name, text });
        if (text.includes(canary)) {
          if (f === heapFile) found.heap = true;
          if (relative(dataDir, f).startsWith('pg_wal')) found.wal++;
        }
        if (f === toastFile && text.includes(toastCanary)) found.toast = true;
      }
      // All files at once (one search per needle, not one per file); on a hit, file by file to name the culprit.
      const check = (text: string, name: string) => {
        expectNoSecrets(text, secrets, name);
        for (const e of encoded)
          expect(text.includes(e), `${name} holds a secret hex/base64-encoded`).toBe(false);
      };
      try {
        check(texts.map((t) => t.text).join('\u0000'), `the data directory (${where})`);
      } catch (err) {
        for (const t of texts) check(t.text, t.name);
        throw err;
      }
      return found;
    };
    const running = scan('running, after CHECKPOINT and a WAL switch');
    expect(running).toMatchObject({ heap: true, toast: true });
    expect(running.wal).toBeGreaterThan(0);
    console.log(
      `[store-scan] PostgreSQL data directory: ${running.files} files, ${(running.bytes / 1e6).toFixed(1)} MB read`,
    );
    await store.close();
    store = undefined;
    await admin.end();
    admin = undefined;
    await server.stop();
    const stopped = scan('server stopped');
    expect(stopped).toMatchObject({ heap: true, toast: true });
  }, 120_000);
});
