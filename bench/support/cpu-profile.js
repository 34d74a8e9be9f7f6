// Sums a V8 CPU profile (`node --cpu-prof`) by function: self time (the frame on top of the stack) and inclusive time
// (anywhere on the stack, counted once per sample), as shares of the sampled time. Pure: tested in
// test/bench/cpu-profile.test.ts; used by bench/profile.js.

/** "name file:line" of a call frame, with the path shortened to what follows node_modules/ or the repo root. */
export function frameKey(callFrame) {
  const name = callFrame.functionName || '(anonymous)';
  if (!callFrame.url) return name;
  const url = callFrame.url.replace(/^file:\/\//, '');
  const nm = url.lastIndexOf('node_modules/');
  const short =
    nm >= 0 ? url.slice(nm + 'node_modules/'.length) : url.replace(/^.*\/(dist|bench|src)\//, '$1/');
  return `${name} ${short}:${callFrame.lineNumber + 1}`;
}

/**
 * { totalMs, idleMs, busyMs, self: [{ key, ms, share }], inclusive: [...] } sorted by time, for a parsed
 * .cpuprofile. Shares are of the busy time (idle samples left out: under load from another process, idle is waiting
 * on it). Samples and time deltas pair up by index (V8's format); GC and program time are V8's pseudo-frames.
 * `fromUs`/`toUs` keep only the samples taken in that window, on the profile's clock (the system's monotonic clock
 * on Linux, as process.hrtime in any process), so start-up and shutdown can be left out.
 */
export function summarizeProfile(profile, { fromUs = -Infinity, toUs = Infinity } = {}) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map();
  const inclusive = new Map();
  let totalMs = 0;
  let idleMs = 0;
  let at = profile.startTime ?? 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    at += profile.timeDeltas[i] ?? 0;
    if (ms <= 0 || at < fromUs || at > toUs) continue;
    totalMs += ms;
    const node = byId.get(profile.samples[i]);
    if (!node) continue;
    const top = frameKey(node.callFrame);
    if (top === '(idle)') {
      idleMs += ms;
      continue;
    }
    self.set(top, (self.get(top) ?? 0) + ms);
    const seen = new Set();
    for (let id = node.id; id !== undefined; id = parent.get(id)) {
      const key = frameKey(byId.get(id).callFrame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
    }
  }
  const busyMs = totalMs - idleMs;
  const sorted = (m) =>
    [...m].map(([key, ms]) => ({ key, ms, share: busyMs > 0 ? ms / busyMs : 0 })).sort((a, b) => b.ms - a.ms);
  return { totalMs, idleMs, busyMs, self: sorted(self), inclusive: sorted(inclusive) };
}

/** Markdown: the top `n` frames by self time, and by inclusive time among those matching `ours`. */
export function profileTables(summary, { n = 15, ours = (key) => / (dist|bench)\//.test(key) } = {}) {
  const pct = (s) => `${(s * 100).toFixed(1)}`;
  const lines = ['| self % of busy | frame |', '|---:|---|'];
  for (const f of summary.self.slice(0, n)) lines.push(`| ${pct(f.share)} | \`${f.key}\` |`);
  lines.push('', '| inclusive % of busy | frame (wacloud code) |', '|---:|---|');
  for (const f of summary.inclusive.filter((f) => ours(f.key)).slice(0, n))
    lines.push(`| ${pct(f.share)} | \`${f.key}\` |`);
  return lines.join('\n');
}
