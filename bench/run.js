// `npm run bench [-- --quick] [-- --only sdk,proxy]`: runs every benchmark, prints each table as it finishes, and
// writes bench/results/latest.md (self-contained: date, machine, load, budgets, notes) and bench/results/chart.svg.
// --quick (short runs, under 2 minutes) writes bench/results/raw/quick.md and quick.svg instead (git-ignored), so it
// never replaces a full run's results.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { updateReadme } from './readme-table.js';
import { budgetRows, renderBudgetSvg, renderConsole, renderMarkdown } from './support/report.js';

const BENCHES = [
  { id: 'sdk', module: './sdk-send.js' },
  { id: 'emulator', module: './emulator-send.js' },
  { id: 'proxy', module: './broker-proxy.js' },
  { id: 'memory', module: './broker-memory.js' },
  { id: 'webhook', module: './webhook-ingest.js' },
  { id: 'sweep', module: './renewal-sweep.js' },
  { id: 'cold', module: './cold-start.js' },
];

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    out: { type: 'string' },
    // Re-render the markdown and chart from a raw JSON file of an earlier run (nothing is measured).
    from: { type: 'string' },
  },
});
const quick = values.quick;
const only = values.only ? new Set(values.only.split(',')) : undefined;
for (const id of only ?? []) {
  if (!BENCHES.some((b) => b.id === id)) {
    console.error(`unknown benchmark "${id}"; known: ${BENCHES.map((b) => b.id).join(', ')}`);
    process.exit(2);
  }
}

const outName = values.out ?? (quick ? 'quick' : 'latest');
const resultsDir = new URL(quick && !values.out ? './results/raw/' : './results/', import.meta.url);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const loadBefore = load();
const busy = loadavg()[0] > 0.5;
let commit = '';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'bench'], {
    encoding: 'utf8',
  }).trim();
  if (dirty) commit += ' (with uncommitted changes)';
} catch {
  // not a git checkout: fine
}

if (!values.from)
  console.log(
    `wacloud benchmarks${quick ? ' (--quick)' : ''}; load average ${loadBefore}${busy ? ' (busy machine: numbers are noisy)' : ''}`,
  );
const from = values.from ? JSON.parse(readFileSync(values.from, 'utf8')) : undefined;
const sections = from ? from.sections : [];
const started = performance.now();
for (const bench of from ? [] : BENCHES) {
  if (only && !only.has(bench.id)) continue;
  const t0 = performance.now();
  let section;
  try {
    const mod = await import(bench.module);
    const title = mod.title ?? bench.id;
    const out = await runBench(mod, bench.id);
    const result = Array.isArray(out) ? { rows: out } : out;
    section = { id: bench.id, title, rows: result.rows ?? [], notes: result.notes ?? [] };
  } catch (err) {
    section = {
      id: bench.id,
      title: bench.id,
      rows: [],
      notes: [],
      error: String(err?.stack ?? err)
        .split('\n')
        .slice(0, 3)
        .join(' '),
    };
  }
  section.seconds = (performance.now() - t0) / 1000;
  sections.push(section);
  console.log(`${renderConsole(section)}\n  (${section.seconds.toFixed(1)} s)\n`);
}

/** Runs one benchmark module: `run({ quick })`; the emulator's older export is adapted to rows. */
async function runBench(mod, id) {
  if (typeof mod.run === 'function') return mod.run({ quick });
  if (id === 'emulator' && typeof mod.benchEmulatorSend === 'function') {
    const results = await mod.benchEmulatorSend(
      quick ? { rounds: 3, durationMs: 400 } : { rounds: 5, durationMs: 1500 },
    );
    const base = results.find((r) => r.name === 'minimal node:http server')?.rps;
    return results.map((r) => ({
      name: `${r.name}, 64 concurrent`,
      value: r.rps,
      unit: 'req/s',
      ratio: r.rps / base,
    }));
  }
  throw new Error(`${id}: the module exports no run({ quick })`);
}

const cpu = cpus();
const meta = from?.meta ?? {
  date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  machine: `${cpu.length} × ${cpu[0]?.model?.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ${process.platform} ${process.arch}`,
  node: process.versions.node,
  commit,
  quick,
  loadBefore,
  loadAfter: load(),
  busy,
  command: `npm run bench${quick || only ? ' --' : ''}${quick ? ' --quick' : ''}${only ? ` --only ${values.only}` : ''}`,
  chart: `${outName === 'latest' ? 'chart' : outName}.svg`,
};
mkdirSync(resultsDir, { recursive: true });
mkdirSync(new URL('./results/raw/', import.meta.url), { recursive: true });
const svg = renderBudgetSvg(budgetRows(sections), {
  subtitle: `${meta.date}, ${meta.machine}, Node ${meta.node}${meta.quick ? ', --quick' : ''}${meta.busy ? ', busy machine (provisional)' : ''}`,
});
writeFileSync(new URL(meta.chart, resultsDir), svg);
// The hand-written profiling log (before/after of each fix) goes with every results file, so it stands alone.
let log = '';
try {
  log = `\n${readFileSync(new URL('./results/profiling.md', import.meta.url), 'utf8')}`;
} catch {
  // no log yet
}
writeFileSync(new URL(`${outName}.md`, resultsDir), renderMarkdown(meta, sections) + log);
writeFileSync(
  new URL(`./results/raw/${outName}.json`, import.meta.url),
  `${JSON.stringify({ meta, sections }, null, 2)}\n`,
);
// The README's performance table is generated from latest.md, never copied by hand.
if (outName === 'latest')
  console.log(updateReadme() ? 'README.md table unchanged' : 'README.md table rewritten');

const budgets = budgetRows(sections);
const missed = budgets.filter((b) => !b.pass);
console.log(
  `${budgets.length - missed.length}/${budgets.length} budgets met${missed.length ? `; missed: ${missed.map((m) => `${m.section}: ${m.name}`).join('; ')}` : ''}`,
);
console.log(
  `wrote ${fileURLToPath(new URL(`${outName}.md`, resultsDir))} and ${meta.chart} beside it in ${((performance.now() - started) / 1000).toFixed(0)} s`,
);
if (sections.some((s) => s.error)) process.exitCode = 1;
