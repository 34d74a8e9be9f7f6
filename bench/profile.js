// Profiles one server process under load with `node --cpu-prof` and prints where its time goes (markdown tables for
// bench/results/profiling.md) and its CPU µs per request from /proc. Short runs are enough: a profile's shares are
// relative, so they stay meaningful on a loaded machine where throughput does not.
//   npm run build && node bench/profile.js <target> [--seconds 4] [--concurrency 64] [--keep dir]
// targets:
//   emulator          POST /messages to the emulator (bench/emulator-server.js), raw undici client
//   minimal           the same to bench/support/minimal-graph-server.js (the floor)
//   ingest-sqlite     signed webhook deliveries to a broker on SQLite (bench/support/broker-server.js)
//   ingest-postgres   the same on PostgreSQL (WACLOUD_TEST_DATABASE_URL or DATABASE_URL)
// BENCH_NO_WORKERS=1 runs the broker without its dispatcher (the acknowledgement path alone).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { rawSender } from './emulator-send.js';
import { profileTables, summarizeProfile } from './support/cpu-profile.js';
import { cpuMicros, drive, startServerProcess } from './support/harness.js';
import { brokerArgs, poster } from './webhook-ingest.js';

const TARGETS = ['emulator', 'minimal', 'ingest-sqlite', 'ingest-postgres'];

/** Starts `target` with --cpu-prof into `dir`; resolves { server, load: () => Promise, close, cleanup }. */
async function start(target, dir) {
  const execArgv = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
  if (target === 'emulator' || target === 'minimal') {
    const script =
      target === 'emulator'
        ? new URL('./emulator-server.js', import.meta.url)
        : new URL('./support/minimal-graph-server.js', import.meta.url);
    const server = await startServerProcess(script, [], { execArgv });
    if (target === 'minimal')
      server.info = {
        ...server.info,
        token: `EAAB${'x'.repeat(40)}`,
        phoneNumberId: '106540352242922',
        recipient: '16505551234',
      };
    const sender = rawSender(server);
    return { server, load: sender.run, close: sender.close, cleanup: async () => {} };
  }
  let extra = {};
  let cleanup = async () => {};
  if (target === 'ingest-postgres') {
    const url = process.env.WACLOUD_TEST_DATABASE_URL || process.env.DATABASE_URL;
    if (!url) throw new Error('ingest-postgres needs WACLOUD_TEST_DATABASE_URL or DATABASE_URL');
    const schema = `wacloud_profile_${randomBytes(5).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    extra = { databaseUrl: url, schema };
    cleanup = async () => {
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    };
  }
  const server = await startServerProcess(
    new URL('./support/broker-server.js', import.meta.url),
    brokerArgs(extra),
    { execArgv },
  );
  const p = poster(server.url);
  return { server, load: p.run, close: p.close, cleanup };
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '64' },
    keep: { type: 'string' },
  },
});
const target = positionals[0];
if (!TARGETS.includes(target)) {
  console.error(
    `usage: node bench/profile.js <${TARGETS.join('|')}> [--seconds 4] [--concurrency 64] [--keep dir]`,
  );
  process.exit(2);
}
const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'wacloud-profile-'));
mkdirSync(dir, { recursive: true });
const run = await start(target, dir);
let result;
try {
  const concurrency = Number(values.concurrency);
  await drive(run.load, { concurrency, durationMs: 500 }); // warm-up, not in the CPU figure (still in the profile)
  const before = cpuMicros(run.server.pid);
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  result = await drive(run.load, { concurrency, durationMs: Number(values.seconds) * 1000 });
  result.window = { fromUs, toUs: Number(process.hrtime.bigint() / 1000n) };
  const after = cpuMicros(run.server.pid);
  result.micros = before === undefined || after === undefined ? undefined : (after - before) / result.calls;
} finally {
  await run.close();
  await run.server.stop(); // a normal exit writes the profile
  await run.cleanup();
}
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
if (!file) throw new Error(`no profile written in ${dir}`);
// Only the samples taken under the measured load: start-up, warm-up and shutdown are left out.
const summary = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')), result.window);
console.log(
  `### ${target}${process.env.BENCH_NO_WORKERS === '1' ? ' (BENCH_NO_WORKERS=1)' : ''}: ${result.calls} requests in ${result.seconds.toFixed(1)} s, ${result.micros === undefined ? 'n/a' : result.micros.toFixed(1)} µs CPU per request (/proc), ${summary.totalMs.toFixed(0)} ms sampled under load, ${((100 * summary.idleMs) / summary.totalMs).toFixed(0)}% idle\n`,
);
console.log(profileTables(summary));
if (values.keep) console.log(`\nprofile: ${join(dir, file)}`);
else rmSync(dir, { recursive: true, force: true });
