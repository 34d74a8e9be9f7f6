// Shared benchmark harness: contenders measured side by side, interleaved, repeated; medians and ratios.
import { fork } from 'node:child_process';

/** Starts a server script in a child process; resolves { url, stop }. */
export async function startServerProcess(scriptUrl, args = []) {
  const child = fork(new URL(scriptUrl), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.port));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      }),
  };
}

/** Runs `fn` with `concurrency` workers for `durationMs`; returns requests per second (errors abort the run). */
export async function throughput(fn, { concurrency, durationMs }) {
  let count = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  const worker = async () => {
    while (performance.now() < deadline) {
      await fn();
      count++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return count / ((performance.now() - started) / 1000);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * contenders: [{ name, run: () => Promise }]. Each round runs every contender once (order rotated per round so no
 * one always goes first); the result per contender is the median over rounds.
 */
export async function compare(
  contenders,
  { rounds = 5, concurrency = 64, durationMs = 1500, warmupMs = 500 } = {},
) {
  for (const c of contenders) await throughput(c.run, { concurrency, durationMs: warmupMs });
  const samples = new Map(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]);
    for (const c of order) samples.get(c.name).push(await throughput(c.run, { concurrency, durationMs }));
  }
  return contenders.map((c) => ({
    name: c.name,
    rps: median(samples.get(c.name)),
    samples: samples.get(c.name),
  }));
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
