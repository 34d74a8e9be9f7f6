// Renewal sweep with 100,000 credentials, of which 1,000 are due: how long the token manager takes to process the
// due ones (a `debug_token` health check each, against an in-process emulator), how many queries it issues (counted
// at the driver: better-sqlite3 statement runs / pg queries), that it claims only the due rows, the query plan of the due-row
// pick on each engine (EXPLAIN), and the manager's memory per credential it holds (heap delta after GC).
// Budget (design.md): touches only the due ones (indexed); memory <= 1 KB per credential.
// Each engine runs in a child process started with --expose-gc:
//   npm run build && node bench/renewal-sweep.js [--quick]
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderConsole } from './support/report.js';

export const title = 'Renewal sweep, 100,000 credentials';

const TOTAL = 100_000;
const DUE = 1_000;

export async function run({ quick = false } = {}) {
  const pgUrl = process.env.WACLOUD_TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;
  const rows = [];
  const notes = [
    `${TOTAL.toLocaleString('en-US')} credentials seeded with batched inserts straight into the store (tokens encrypted as usual); ${DUE.toLocaleString('en-US')} of them due. The sweep is the token manager's runDue() repeated until nothing is claimed (batches of 100, 4 at a time), each due credential getting a debug_token health check from an in-process emulator.`,
    'Queries are counted at the driver (every better-sqlite3 statement run, every pg query, BEGIN/COMMIT included) while the sweep runs.',
  ];
  for (const engine of ['sqlite', ...(pgUrl ? ['postgres'] : [])]) {
    const r = await child(engine, pgUrl, quick);
    const tag = engine === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    rows.push(
      {
        name: `${tag}: seeding ${TOTAL.toLocaleString('en-US')} credentials`,
        value: r.seedMs / 1000,
        unit: 's',
      },
      { name: `${tag}: sweep of the ${DUE.toLocaleString('en-US')} due`, value: r.sweepMs, unit: 'ms' },
      { name: `${tag}: queries issued by the sweep`, value: r.queries, unit: 'queries' },
      { name: `${tag}: queries per due credential`, value: r.queries / DUE, unit: '' },
      {
        name: `${tag}: rows claimed that were not due`,
        value: r.claimedNotDue,
        unit: 'rows',
        budget: '<= 0',
        pass: r.claimedNotDue === 0 && r.claimed === DUE,
        note: `${r.claimed} claimed of ${DUE} due`,
      },
      {
        name: `${tag}: an idle sweep (nothing due) over ${TOTAL.toLocaleString('en-US')}`,
        value: r.idleSweepMs,
        unit: 'ms',
      },
      {
        name: `${tag}: due-row pick uses the index credentials_next_check`,
        value: r.usesIndex ? 'yes' : 'no',
        unit: '',
        budget: 'index scan',
        pass: r.usesIndex,
      },
    );
    if (r.memory) {
      rows.push(
        {
          name: `manager memory per credential held (${r.memory.held.toLocaleString('en-US')} held)`,
          value: r.memory.bytesPerCredential,
          unit: 'B',
          budget: '<= 1024 B',
          pass: r.memory.bytesPerCredential <= 1024,
        },
        { name: 'of which the token value (chars)', value: r.memory.tokenChars, unit: 'chars' },
      );
    }
    notes.push(`${tag} plan of the due-row pick:`, '```', ...r.plan, '```');
    if (engine === 'postgres')
      notes.push(`PostgreSQL rows read by the pick (EXPLAIN ANALYZE, LIMIT 100): ${r.rowsRead}.`);
  }
  if (!pgUrl)
    notes.push('PostgreSQL: skipped (set WACLOUD_TEST_DATABASE_URL or DATABASE_URL to measure it).');
  notes.push(
    'Memory: heap used after a full GC, before and after the manager loads every credential into its cache (getToken on each), divided by the count; measured on SQLite (the cache is the same on both engines).',
  );
  return { rows, notes };
}

function child(engine, pgUrl, quick) {
  return new Promise((resolve, reject) => {
    const p = fork(fileURLToPath(import.meta.url), ['--child', engine, quick ? 'quick' : 'full'], {
      execArgv: ['--expose-gc'],
      env: { ...process.env, BENCH_PG_URL: pgUrl ?? '' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result;
    p.on('message', (m) => {
      result = m;
    });
    p.on('exit', (code) =>
      result?.error
        ? reject(new Error(result.error))
        : result
          ? resolve(result)
          : reject(new Error(`exited ${code}`)),
    );
  });
}

// ------------------------------------------------------------------------------------------------ child process

async function childMain(engine) {
  const BetterSqlite3 = (await import('better-sqlite3')).default;
  const pg = (await import('pg')).default;
  const { sql } = await import('kysely');
  const { createEmulator } = await import('../dist/emulator/index.js');
  const { createFetchTransport } = await import('../dist/transport/index.js');
  const { createTokenManager } = await import('../dist/auth/token-manager.js');
  const { Secret } = await import('../dist/core/secret.js');
  const { openStore } = await import('../dist/store/open-store.js');
  const { credentialContext, dueCredentialIds } = await import('../dist/store/credentials.js');

  // Driver-level query counters: every statement the sweep sends, whatever layer built it.
  let queries = 0;
  let counting = false;
  // better-sqlite3: statement executions, not prepares (the store reuses prepared statements by SQL text).
  const probe = new BetterSqlite3(':memory:');
  const Statement = Object.getPrototypeOf(probe.prepare('SELECT 1'));
  probe.close();
  for (const method of ['run', 'get', 'all', 'iterate']) {
    const original = Statement[method];
    Statement[method] = function (...args) {
      if (counting) queries++;
      return original.apply(this, args);
    };
  }
  const exec = BetterSqlite3.prototype.exec;
  BetterSqlite3.prototype.exec = function (...args) {
    if (counting) queries++;
    return exec.apply(this, args);
  };
  const query = pg.Client.prototype.query;
  pg.Client.prototype.query = function (...args) {
    if (counting) queries++;
    return query.apply(this, args);
  };

  const emu = createEmulator({ throughput: { mps: 1e9, pairRate: false } });
  const seed = emu.seed;
  const clock = emu.clock;
  const dataDir = mkdtempSync(join(tmpdir(), 'wacloud-bench-sweep-'));
  let schema;
  let admin;
  const pgUrl = process.env.BENCH_PG_URL;
  if (engine === 'postgres') {
    schema = `wacloud_bench_${randomBytes(5).toString('hex')}`;
    admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
  }
  const store = await openStore(
    {
      dataDir,
      databaseUrl: engine === 'postgres' ? new Secret(pgUrl, 'database-url') : undefined,
      masterKey: new Secret(randomBytes(32).toString('base64'), 'master-key'),
    },
    { postgres: schema ? { schema } : undefined },
  );
  const out = { engine };
  try {
    // Seed: 100k rows, 1k due now, the rest due over the next 30 days; batched inserts straight into the table.
    const now = clock.now();
    const dueIds = new Set();
    const t0 = performance.now();
    const kysely = store.credentials.db.kysely;
    const batch = engine === 'postgres' ? 1000 : 500;
    let tokenChars = 0;
    for (let start = 0; start < TOTAL; start += batch) {
      const values = [];
      for (let i = start; i < Math.min(TOTAL, start + batch); i++) {
        const id = randomUUID();
        const due = i % (TOTAL / DUE) === 0;
        // Due ones get real emulator tokens (their health check must pass); the others are never sent anywhere.
        const token = due
          ? emu.world.mintToken({ kind: 'system_user', appId: seed.appId }).accessToken
          : `EAAG${randomBytes(150).toString('base64url')}`;
        tokenChars = token.length;
        if (due) dueIds.add(id);
        const sealed = await store.credentials.keys.encrypt(token, credentialContext(id, 1));
        values.push({
          id,
          tenant_id: `tenant-${i % 1000}`,
          kind: 'system-user',
          app_id: seed.appId,
          subject_id: seed.systemUserId,
          scopes: '["whatsapp_business_messaging","whatsapp_business_management"]',
          target_ids: '[]',
          token_ct: sealed.ciphertext,
          key_id: sealed.keyId,
          version: 1,
          issued_at_ms: now - 86_400_000,
          expires_at_ms: null,
          data_access_expires_at_ms: null,
          status: 'active',
          next_check_at_ms: due ? now - 60_000 : now + 60_000 + Math.floor(Math.random() * 30 * 86_400_000),
          lease_owner: null,
          lease_expires_at_ms: null,
          failures: 0,
          last_error: null,
          created_at_ms: now - 86_400_000,
          updated_at_ms: now - 86_400_000,
        });
      }
      await kysely.insertInto('credentials').values(values).execute();
    }
    out.seedMs = performance.now() - t0;
    // PostgreSQL's autovacuum would analyze the new rows soon; do it now so the plan is the steady-state one.
    if (engine === 'postgres') await sql`ANALYZE credentials`.execute(kysely);

    // The plan of the due-row pick, as the sweep sends it.
    const pick = dueCredentialIds(now, 100, engine).compile(kysely);
    if (engine === 'sqlite') {
      const res = await kysely.executeQuery({
        ...pick,
        sql: `EXPLAIN QUERY PLAN ${pick.sql}`,
      });
      out.plan = res.rows.map((r) => String(r.detail));
    } else {
      const res = await kysely.executeQuery({
        ...pick,
        sql: `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) ${pick.sql}`,
      });
      out.plan = res.rows.map((r) => String(r['QUERY PLAN']));
      const scan = out.plan.find((l) => /Index (Only )?Scan using credentials_next_check/.test(l)) ?? '';
      out.rowsRead = /actual rows=(\d+)/.exec(scan)?.[1] ?? 'unknown';
    }
    out.usesIndex = out.plan.some((l) => /credentials_next_check/.test(l));

    const manager = createTokenManager({
      store: store.credentials,
      appId: seed.appId,
      appSecret: seed.appSecret,
      transport: createFetchTransport(emu.fetch.bind(emu)),
      graphUrl: 'http://127.0.0.1:9',
      clock,
      configSource: { env: {}, envFile: false },
    });
    // Which rows the sweep claims.
    let claimed = 0;
    let claimedNotDue = 0;
    const claimDue = store.credentials.claimDue.bind(store.credentials);
    store.credentials.claimDue = async (...args) => {
      const got = await claimDue(...args);
      claimed += got.length;
      for (const r of got) if (!dueIds.has(r.id)) claimedNotDue++;
      return got;
    };
    queries = 0;
    counting = true;
    const t1 = performance.now();
    while ((await manager.runDue()) > 0) {
      // next batch
    }
    out.sweepMs = performance.now() - t1;
    counting = false;
    out.queries = queries;
    out.claimed = claimed;
    out.claimedNotDue = claimedNotDue;
    const t2 = performance.now();
    await manager.runDue();
    out.idleSweepMs = performance.now() - t2;

    if (engine === 'sqlite') {
      // Memory: every credential loaded into the manager's cache, heap measured after full GCs.
      const ids = (await kysely.selectFrom('credentials').select('id').execute()).map((r) => r.id);
      const fresh = createTokenManager({
        store: store.credentials,
        appId: seed.appId,
        appSecret: seed.appSecret,
        transport: createFetchTransport(emu.fetch.bind(emu)),
        graphUrl: 'http://127.0.0.1:9',
        clock,
        configSource: { env: {}, envFile: false },
      });
      const heap = () => {
        globalThis.gc();
        globalThis.gc();
        return process.memoryUsage().heapUsed;
      };
      const before = heap();
      for (const id of ids) await fresh.getToken(id);
      const after = heap();
      out.memory = { held: ids.length, bytesPerCredential: (after - before) / ids.length, tokenChars };
      // Keep `fresh` and `ids` alive until after the measurement.
      if (fresh.cachedVersion(ids[0]) === undefined) throw new Error('the cache is empty');
      ids.length = 0;
    }
    await manager.close();
  } finally {
    await store.close();
    await emu.close();
    if (admin) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await admin.end();
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
  return out;
}

if (process.argv[2] === '--child') {
  try {
    process.send(await childMain(process.argv[3]));
  } catch (err) {
    process.send({ error: String(err?.stack ?? err) });
  }
  process.disconnect();
} else if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes('--quick') });
  console.log(renderConsole({ title, ...result }));
}
