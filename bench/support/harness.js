// Shared benchmark harness: contenders measured side by side, interleaved, repeated; medians and ratios.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { median } from './report.js';

/**
 * Starts a server script in a child process; resolves { url, info, pid, stop } once it sends its first IPC message
 * ({ port, ... }: `info`). `options.env` and `options.execArgv` go to the child.
 */
export async function startServerProcess(scriptUrl, args = [], options = {}) {
  const child = fork(new URL(scriptUrl), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: options.env ?? process.env,
    execArgv: options.execArgv ?? [],
  });
  const info = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${scriptUrl} exited with ${code}`)));
  });
  const port = info.port;
  return {
    info,
    pid: child.pid,
    child,
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** Runs `fn` with `concurrency` workers for `durationMs`; returns { calls, seconds } (errors abort the run). */
export async function drive(fn, { concurrency, durationMs }) {
  let calls = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      await fn();
      calls++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { calls, seconds: (performance.now() - started) / 1000 };
}

/** Runs `fn` with `concurrency` workers for `durationMs`; returns requests per second (errors abort the run). */
export async function throughput(fn, options) {
  const { calls, seconds } = await drive(fn, options);
  return calls / seconds;
}

export { median } from './report.js';

/**
 * Open-loop load at a fixed rate: starts `fn` `rate` times a second for `durationMs` whatever the answers do, and
 * returns every latency in ms measured from the moment the request was due (so a stalled server is charged for the
 * queue it causes). Requests still in flight at the end are awaited.
 */
export async function fixedRate(fn, { rate, durationMs, maxInFlight = 4096 }) {
  const latencies = [];
  let errors = 0;
  let dropped = 0;
  let inFlight = 0;
  const pending = new Set();
  const intervalMs = 1000 / rate;
  const start = performance.now();
  let sent = 0;
  const total = Math.floor((rate * durationMs) / 1000);
  while (sent < total) {
    const now = performance.now();
    const due = Math.min(total, Math.floor((now - start) / intervalMs) + 1);
    while (sent < due) {
      const dueAt = start + sent * intervalMs;
      sent++;
      if (inFlight >= maxInFlight) {
        dropped++;
        continue;
      }
      inFlight++;
      const p = fn().then(
        () => latencies.push(performance.now() - dueAt),
        () => errors++,
      );
      const tracked = p.finally(() => {
        inFlight--;
        pending.delete(tracked);
      });
      pending.add(tracked);
    }
    // Yield to the event loop (answers) until the next request is due; no busy spin when it is a while away, so the
    // load generator does not eat a core the servers need.
    const wait = start + sent * intervalMs - performance.now();
    await new Promise((resolve) => (wait >= 1.5 ? setTimeout(resolve, 1) : setImmediate(resolve)));
  }
  await Promise.all([...pending]);
  return { latencies, errors, dropped, seconds: (performance.now() - start) / 1000 };
}

/**
 * contenders: [{ name, run: () => Promise }]. Each round runs every contender once (order rotated per round so no
 * one always goes first); the result per contender is the median over rounds: req/s, and `clientMicros`, this
 * process's own CPU (user + system, process.cpuUsage) per call, which is the contender's cost without the server's
 * (the server runs in another process). Garbage a contender leaves may be collected in the next one's round; the
 * rotation spreads that over all of them.
 */
export async function compare(
  contenders,
  { rounds = 5, concurrency = 64, durationMs = 1500, warmupMs = 500 } = {},
) {
  for (const c of contenders) await throughput(c.run, { concurrency, durationMs: warmupMs });
  const samples = new Map(contenders.map((c) => [c.name, { rps: [], cpu: [] }]));
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) {
      const cpu0 = process.cpuUsage();
      const { calls, seconds } = await drive(c.run, { concurrency, durationMs });
      const cpu = process.cpuUsage(cpu0);
      const s = samples.get(c.name);
      s.rps.push(calls / seconds);
      if (calls > 0) s.cpu.push((cpu.user + cpu.system) / calls);
    }
  }
  return contenders.map((c) => {
    const s = samples.get(c.name);
    return { name: c.name, rps: median(s.rps), samples: s.rps, clientMicros: median(s.cpu) };
  });
}

export function formatTable(title, results, baselineName) {
  const base = results.find((r) => r.name === baselineName)?.rps ?? 1;
  const lines = [
    `### ${title}`,
    '',
    `| contender | req/s (median) | vs ${baselineName} |`,
    '|---|---:|---:|',
  ];
  for (const r of results)
    lines.push(
      `| ${r.name} | ${Math.round(r.rps).toLocaleString('en-US')} | ${(r.rps / base).toFixed(2)}x |`,
    );
  return lines.join('\n');
}

/** CPU time (user + system) a process has used, in µs, from /proc; undefined where there is no /proc (not Linux). */
export function cpuMicros(pid = process.pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1e6 / 100); // clock ticks: 100 per second on Linux
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` like `throughput` and returns the CPU µs per completed call of each process in `pids` (name → pid), or
 * undefined where /proc is missing.
 */
export async function cpuPerCall(fn, pids, { concurrency, durationMs }) {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMicros(pid)]));
  const { calls } = await drive(fn, { concurrency, durationMs });
  const out = {};
  for (const [k, pid] of Object.entries(pids)) {
    const after = cpuMicros(pid);
    out[k] = after === undefined || before[k] === undefined ? undefined : (after - before[k]) / calls;
  }
  return out;
}
