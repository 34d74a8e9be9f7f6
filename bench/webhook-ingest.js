// Webhook ingest through the broker (verify the signature on the raw bytes, commit the body to the durable inbox,
// acknowledge) vs a bare node:http server that only checks the HMAC, side by side, on SQLite and on PostgreSQL
// (when WACLOUD_TEST_DATABASE_URL or DATABASE_URL is set). Every server runs in its own process; the load comes from
// this one. Every delivery is unique (a new message id), so none is skipped as a duplicate.
// Budget (design.md >= 0.5x; issue 22 raised SQLite to >= 0.6x): SQLite >= 0.6x, PostgreSQL >= 0.5x the bare server.
//   npm run build && node bench/webhook-ingest.js [--quick]
import { createHmac, randomBytes } from 'node:crypto';
import pg from 'pg';
import { Pool } from 'undici';
import { compare, cpuMicros, startServerProcess, throughput } from './support/harness.js';
import { budgetRow, median, ratio, renderConsole } from './support/report.js';

export const title = 'Webhook ingest (verify + persist + acknowledge)';

/** BENCH_PROFILE=dir: each broker writes a V8 CPU profile there (BENCH_NO_WORKERS=1: the ack path alone). */
function profileArgs(name) {
  const dir = process.env.BENCH_PROFILE;
  return dir
    ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}-${Date.now()}.cpuprofile`]
    : [];
}

/** Resolves with the process's CPU µs once it has gone quiet (< 2 ms of CPU in 200 ms): its backlog is done. */
async function settled(pid) {
  let last = cpuMicros(pid);
  if (last === undefined) return undefined;
  for (let i = 0; i < 150; i++) {
    await new Promise((r) => setTimeout(r, 200));
    const now = cpuMicros(pid);
    if (now - last < 2000) return now;
    last = now;
  }
  return last;
}

/**
 * CPU µs per delivery of the server process (from /proc, so other load on the machine does not count): during the
 * load, and until the process is quiet again, which adds the dispatcher's work on the backlog it was left with.
 */
async function cpuPerDelivery(run, pid, { concurrency, durationMs }) {
  const before = await settled(pid);
  let calls = 0;
  await throughput(
    async () => {
      await run();
      calls++;
    },
    { concurrency, durationMs },
  );
  const during = cpuMicros(pid);
  const after = await settled(pid);
  if (before === undefined || during === undefined || after === undefined) return undefined;
  return { during: (during - before) / calls, total: (after - before) / calls };
}

const SECRET = `bench-${randomBytes(16).toString('hex')}`;
const PHONE = '106540352242922';
let seq = 0;

/** A Meta-shaped inbound text message delivery (~900 bytes), unique per call, and its X-Hub-Signature-256. */
export function delivery(secret = SECRET) {
  const n = seq++;
  const body = Buffer.from(
    JSON.stringify({
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '102290129340398',
          changes: [
            {
              field: 'messages',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550783881', phone_number_id: PHONE },
                contacts: [{ profile: { name: 'Kerry Fisher' }, wa_id: '16505551234' }],
                messages: [
                  {
                    from: '16505551234',
                    id: `wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA${n}`,
                    timestamp: String(1_750_000_000 + n),
                    type: 'text',
                    text: {
                      body: `Hello, I would like to know more about your opening hours this week. (${n})`,
                    },
                  },
                ],
              },
            },
          ],
        },
      ],
    }),
  );
  return { body, signature: `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` };
}

export function poster(url) {
  const pool = new Pool(url, { connections: 64 });
  return {
    run: async () => {
      const d = delivery();
      const res = await pool.request({
        path: '/webhook',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': d.signature },
        body: d.body,
      });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
    },
    close: () => pool.close(),
  };
}

export function brokerArgs(extra = {}) {
  return [
    JSON.stringify({
      upstreamUrl: 'http://127.0.0.1:9', // never called: nothing is due and nothing is proxied
      appId: '1234567890',
      appSecret: SECRET,
      token: `EAAB${randomBytes(30).toString('hex')}`,
      phoneNumberId: PHONE,
      wabaId: '102290129340398',
      ...extra,
    }),
  ];
}

export async function run({ quick = false } = {}) {
  const opts = quick
    ? { rounds: 3, durationMs: 500, warmupMs: 300, concurrency: 64 }
    : { rounds: 5, durationMs: 2000, warmupMs: 500, concurrency: 64 };
  const pgUrl = process.env.WACLOUD_TEST_DATABASE_URL || process.env.DATABASE_URL || undefined;
  const notes = [
    `Servers in their own processes, load from the runner: ${opts.rounds} interleaved rounds of ${opts.durationMs} ms per contender, ${opts.concurrency} concurrent keep-alive clients, median deliveries/s. Each delivery is a unique ~900-byte inbound message.`,
    'The broker verifies the signature on the raw bytes (constant time, length first), commits the body to its inbox before answering 200, and its dispatcher parses and routes the rows in the background (same process).',
    'CPU per delivery: user + system time of the server process from /proc divided by deliveries, median of rounds; the second broker row also counts the time the process takes to become quiet after the load (the dispatcher finishing the rows left pending). Robust to other load on the machine, unlike the ratios.',
  ];
  const servers = [];
  const posters = [];
  let admin;
  let schema;
  try {
    const bare = await startServerProcess(new URL('./webhook-server.js', import.meta.url), ['bare', SECRET]);
    servers.push(bare);
    const contenders = [{ name: 'bare node:http + HMAC check', url: bare.url }];
    const sqlite = await startServerProcess(
      new URL('./support/broker-server.js', import.meta.url),
      brokerArgs(),
      { execArgv: profileArgs('broker-sqlite') },
    );
    servers.push(sqlite);
    contenders.push({ name: 'broker, SQLite inbox', url: sqlite.url });
    if (pgUrl) {
      schema = `wacloud_bench_${randomBytes(5).toString('hex')}`;
      admin = new pg.Client({ connectionString: pgUrl });
      await admin.connect();
      await admin.query(`CREATE SCHEMA ${schema}`);
      const pgBroker = await startServerProcess(
        new URL('./support/broker-server.js', import.meta.url),
        brokerArgs({ databaseUrl: pgUrl, schema }),
        { execArgv: profileArgs('broker-postgres') },
      );
      servers.push(pgBroker);
      contenders.push({ name: 'broker, PostgreSQL inbox', url: pgBroker.url });
    } else {
      notes.push('PostgreSQL: skipped (set WACLOUD_TEST_DATABASE_URL or DATABASE_URL to measure it).');
    }
    const list = contenders.map((c) => {
      const p = poster(c.url);
      posters.push(p);
      return { name: c.name, run: p.run };
    });
    for (const c of list) await c.run(); // a wrong setup fails here, loudly
    const results = await compare(list, opts);
    const base = results[0].rps;
    const rows = results.map((r) => ({
      name: r.name,
      value: r.rps,
      unit: 'req/s',
      ratio: ratio(r.rps, base),
    }));
    for (const r of results.slice(1))
      rows.push(
        budgetRow(
          `${r.name} ÷ bare server`,
          ratio(r.rps, base),
          'x',
          r.name.includes('SQLite') ? '>= 0.6x' : '>= 0.5x',
        ),
      );
    // CPU per delivery in each server process (Linux /proc), the load generator excluded; median of rounds.
    const cpuRounds = quick ? 1 : 3;
    const cpu = list.map(() => ({ during: [], total: [] }));
    for (let r = 0; r < cpuRounds; r++) {
      for (const [i, c] of list.entries()) {
        const got = await cpuPerDelivery(c.run, servers[i].pid, {
          concurrency: opts.concurrency,
          durationMs: quick ? 800 : 2000,
        });
        if (!got) continue;
        cpu[i].during.push(got.during);
        cpu[i].total.push(got.total);
      }
    }
    for (const [i, c] of list.entries()) {
      if (cpu[i].during.length === 0) continue;
      rows.push({ name: `CPU per delivery: ${c.name}`, value: median(cpu[i].during), unit: 'µs' });
      if (i > 0)
        rows.push({
          name: `CPU per delivery: ${c.name}, with the dispatcher's backlog`,
          value: median(cpu[i].total),
          unit: 'µs',
        });
    }
    if (!pgUrl)
      rows.push({
        name: 'broker, PostgreSQL inbox',
        value: 'skipped',
        unit: '',
        note: 'no database URL set',
      });
    return { rows, notes };
  } finally {
    await Promise.all(posters.map((p) => p.close()));
    await Promise.all(servers.map((s) => s.stop()));
    if (admin) {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await admin.end();
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes('--quick') });
  console.log(renderConsole({ title, ...result }));
}
