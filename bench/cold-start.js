// Cold start of the built CLI: `wacloud --help` to exit, and `wacloud up` (sandbox: no Meta app configured, SQLite)
// to a 200 from /readyz, on a fresh data dir (migrations, master key, emulator seed) and on a restart. Median of N.
//   npm run build && node bench/cold-start.js [--quick]
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, renderConsole } from './support/report.js';

export const title = 'Cold start';

const BIN = fileURLToPath(new URL('../bin/wacloud.js', import.meta.url));

/** The environment without anything that would configure a Meta app or another database. */
function cleanEnv(dataDir) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(WA_|M4D_|CLOUD_API_|WACLOUD_|DATABASE_URL|PORT|WEBHOOK_|LISTENER_PORT)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, WACLOUD_DATA_DIR: dataDir };
}

async function timeHelp() {
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.on('exit', (code) =>
      code === 0 && out.includes('wacloud') ? resolve() : reject(new Error(`--help exited ${code}`)),
    );
  });
  return performance.now() - t0;
}

/** Spawns `wacloud up --port 0`, waits for the banner, polls /readyz until 200; returns ms from spawn, then stops it. */
async function timeUp(dir) {
  const t0 = performance.now();
  const p = spawn(process.execPath, [BIN, 'up', '--port', '0'], {
    cwd: dir,
    env: cleanEnv(join(dir, '.wacloud')),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => {
    out += d;
  });
  p.stderr.on('data', (d) => {
    err += d;
  });
  const exited = new Promise((resolve) => p.on('exit', resolve));
  try {
    let url;
    while (!url) {
      url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (p.exitCode !== null) throw new Error(`wacloud up exited ${p.exitCode}: ${err.slice(0, 300)}`);
      if (performance.now() - t0 > 60_000) throw new Error('wacloud up: no banner in 60 s');
      if (!url) await new Promise((r) => setTimeout(r, 2));
    }
    for (;;) {
      const res = await fetch(`${url}/readyz`).catch(() => undefined);
      if (res?.status === 200) break;
      if (performance.now() - t0 > 60_000) throw new Error('wacloud up: /readyz not 200 in 60 s');
      await new Promise((r) => setTimeout(r, 2));
    }
    return performance.now() - t0;
  } finally {
    p.kill('SIGTERM');
    await exited;
  }
}

export async function run({ quick = false } = {}) {
  const n = quick ? 3 : 10;
  const help = [];
  const first = [];
  const restart = [];
  for (let i = 0; i < n; i++) help.push(await timeHelp());
  for (let i = 0; i < n; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'wacloud-bench-up-'));
    try {
      first.push(await timeUp(dir));
      restart.push(await timeUp(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    rows: [
      { name: '`wacloud --help` to exit', value: median(help), unit: 'ms' },
      { name: '`wacloud up` to /readyz 200, fresh data dir', value: median(first), unit: 'ms' },
      { name: '`wacloud up` to /readyz 200, restart', value: median(restart), unit: 'ms' },
    ],
    notes: [
      `Median of ${n} runs each, spawned and timed from Node (process start to exit, or to the first 200 from /readyz). \`up\` runs in sandbox mode (no Meta app configured: the embedded emulator starts too) on SQLite; a fresh data dir also creates the master key file, the database and its migrations.`,
    ],
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = await run({ quick: process.argv.includes('--quick') });
  console.log(renderConsole({ title, ...result }));
}
