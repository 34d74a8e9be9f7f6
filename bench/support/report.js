// The pure parts of the benchmark runner: statistics, the row shape every benchmark returns, the markdown and
// console tables, and the SVG chart. No I/O here, so it is unit-tested (test/bench/report.test.ts).
//
// Row shape (every bench's `run({ quick })` resolves to rows, or to { rows, notes }):
//   { name, value, unit, ratio?, budget?, pass?, note? }
//   name   what was measured ("wacloud, 64 concurrent")
//   value  the median (a number), unit its unit ("req/s", "ms", "x", "B", "queries")
//   ratio  value relative to the section's baseline (1 for the baseline itself), when it has one
//   budget the budget this row is held to, as text starting with ">=" or "<=" and a number ("<= 2 ms", ">= 0.8x")
//   pass   whether the budget is met (set with budget)
//   note   a short remark (skipped, why a budget is missed, ...)

export function median(xs) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in 0..100) of a sample. */
export function percentile(xs, p) {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))];
}

export function ratio(value, base) {
  return base > 0 && Number.isFinite(value) ? value / base : Number.NaN;
}

/**
 * Parses ">= 0.8x", "<= 2 ms", "<=1024 B" into { op, target }; a bare number (0.9) means ">=". Undefined when it is
 * none of those.
 */
export function parseBudget(budget) {
  if (typeof budget === 'number') return Number.isFinite(budget) ? { op: '>=', target: budget } : undefined;
  const m = /^\s*(>=|<=)?\s*(-?\d+(?:\.\d+)?)/.exec(String(budget ?? ''));
  return m ? { op: m[1] ?? '>=', target: Number(m[2]) } : undefined;
}

/** Whether `value` meets `budget` (text as above); undefined when the budget cannot be read. */
export function meets(value, budget) {
  const b = parseBudget(budget);
  if (!b || !Number.isFinite(value)) return undefined;
  return b.op === '>=' ? value >= b.target : value <= b.target;
}

/**
 * A budget row: value against budget text, pass computed. `note` explains a miss or a caveat.
 * @example budgetRow('wacloud ÷ raw undici, 64 concurrent', 0.91, 'x', '>= 0.8x')
 */
export function budgetRow(name, value, unit, budget, note) {
  const row = { name, value, unit, budget, pass: meets(value, budget) === true };
  if (note) row.note = note;
  return row;
}

/** Rounds for display: integers with thousands separators from 100 up, else 3 significant digits. */
export function formatValue(value, unit = '') {
  if (typeof value !== 'number') return String(value ?? '');
  if (!Number.isFinite(value)) return 'n/a';
  let text;
  if (Math.abs(value) >= 100) text = Math.round(value).toLocaleString('en-US');
  else if (value === 0) text = '0';
  else text = Number(value.toPrecision(3)).toString();
  if (!unit) return text;
  return unit === 'x' ? `${text}x` : `${text} ${unit}`;
}

function cell(text) {
  return String(text ?? '')
    .replaceAll('|', '\\|')
    .replaceAll('\n', ' ');
}

/** A markdown table of one section's rows. */
export function rowsTable(rows) {
  const lines = ['| measurement | value | ratio | budget | met | note |', '|---|---:|---:|---|:---:|---|'];
  for (const r of rows) {
    const met = r.budget === undefined ? '' : r.pass ? 'yes' : '**NO**';
    lines.push(
      `| ${cell(r.name)} | ${cell(formatValue(r.value, r.unit))} | ${r.ratio === undefined ? '' : cell(formatValue(r.ratio, 'x'))} | ${cell(r.budget ?? '')} | ${met} | ${cell(r.note ?? '')} |`,
    );
  }
  return lines.join('\n');
}

/** Every budgeted row of every section, for the summary at the top. */
export function budgetRows(sections) {
  const out = [];
  for (const s of sections)
    for (const r of s.rows ?? [])
      if (r.budget !== undefined) out.push({ ...r, section: s.title, sectionId: s.id });
  return out;
}

/**
 * The whole results file. `meta`: { date, machine, node, commit, quick, loadBefore, loadAfter, busy, command, chart }.
 * `sections`: [{ id, title, rows, notes?, error?, seconds }].
 */
export function renderMarkdown(meta, sections) {
  const budgets = budgetRows(sections);
  const missed = budgets.filter((b) => !b.pass);
  const lines = [
    '# wacloud benchmark results',
    '',
    `Measured ${meta.date} on ${meta.machine}, Node ${meta.node}${meta.commit ? `, commit ${meta.commit}` : ''}${meta.quick ? ' (**--quick**: short runs, indicative only)' : ''}.`,
    `Load average before/after: ${meta.loadBefore} / ${meta.loadAfter}.${meta.busy ? ' **Provisional: the machine was busy with other work during this run; ratios are noisier than usual.**' : ''}`,
    `Command: \`${meta.command}\`. Contenders of each benchmark run side by side in one run: interleaved, repeated, medians.`,
    '',
  ];
  if (meta.chart) lines.push(`![budgets chart](${meta.chart})`, '');
  lines.push('## Budgets', '');
  if (budgets.length === 0) lines.push('No budgeted measurement ran.');
  else {
    lines.push('| benchmark | measurement | value | budget | met |', '|---|---|---:|---|:---:|');
    for (const b of budgets)
      lines.push(
        `| ${cell(b.section)} | ${cell(b.name)} | ${cell(formatValue(b.value, b.unit))} | ${cell(b.budget)} | ${b.pass ? 'yes' : '**NO**'} |`,
      );
    lines.push(
      '',
      missed.length === 0
        ? `All ${budgets.length} budgets met.`
        : `${missed.length} of ${budgets.length} budgets missed: ${missed.map((m) => `${m.section}: ${m.name}`).join('; ')}.`,
    );
  }
  for (const s of sections) {
    lines.push('', `## ${s.title}`, '');
    if (s.error) lines.push(`**Failed**: ${s.error}`, '');
    if (s.rows?.length) lines.push(rowsTable(s.rows), '');
    let fenced = false;
    for (const n of s.notes ?? []) {
      // Notes are bullets, except inside a ``` block (query plans), which is kept as it is.
      if (n.startsWith('```')) fenced = !fenced;
      lines.push(fenced || n.startsWith('```') || n.startsWith('- ') ? n : `- ${n}`);
    }
    if (s.seconds !== undefined) lines.push('', `_(${s.seconds.toFixed(1)} s)_`);
  }
  return `${lines.join('\n')}\n`;
}

/** A plain-text table for the terminal: one line per row, ratios and budgets included. */
export function renderConsole(section) {
  const rows = section.rows ?? [];
  const w = Math.max(12, ...rows.map((r) => String(r.name).length));
  const out = [`== ${section.title}${section.error ? ` (FAILED: ${section.error})` : ''}`];
  for (const r of rows) {
    const parts = [String(r.name).padEnd(w), formatValue(r.value, r.unit).padStart(16)];
    if (r.ratio !== undefined) parts.push(formatValue(r.ratio, 'x').padStart(8));
    if (r.budget !== undefined) parts.push(`budget ${r.budget}: ${r.pass ? 'met' : 'MISSED'}`);
    if (r.note) parts.push(`(${r.note})`);
    out.push(`  ${parts.join('  ')}`);
  }
  return out.join('\n');
}

function esc(text) {
  return String(text)
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;');
}

/**
 * The budgets chart: one bar per budgeted row, showing how far it is from its budget (headroom: value ÷ target for
 * ">=", target ÷ value for "<="; 1 is exactly on budget), on a log scale from 0.1x to 100x. Green met, red missed.
 */
export function renderBudgetSvg(rows, { title = 'wacloud: measured vs budget', subtitle = '' } = {}) {
  const items = [];
  for (const r of rows) {
    const b = parseBudget(r.budget);
    if (!b || !Number.isFinite(r.value)) continue;
    // "<= 0" met exactly (nothing allowed, nothing found) sits on the budget line.
    const headroom =
      b.op === '>=' ? r.value / b.target : r.value > 0 ? b.target / r.value : b.target > 0 ? 100 : 1;
    items.push({
      label: `${(r.sectionId ?? r.section) ? `${r.sectionId ?? r.section}: ` : ''}${r.name}`,
      headroom,
      text: `${formatValue(r.value, r.unit)} (budget ${r.budget})`,
      pass: r.pass,
    });
  }
  const labelW = 480;
  const plotW = 360;
  const rowH = 22;
  const top = subtitle ? 58 : 44;
  const width = labelW + plotW + 190;
  const height = top + items.length * rowH + 34;
  const lo = Math.log10(0.1);
  const hi = Math.log10(100);
  const x = (v) => labelW + ((Math.log10(Math.min(100, Math.max(0.1, v))) - lo) / (hi - lo)) * plotW;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12" role="img">`,
    `<title>${esc(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  if (subtitle) parts.push(`<text x="10" y="40" fill="#555">${esc(subtitle)}</text>`);
  for (const tick of [0.1, 0.5, 1, 2, 5, 10, 100]) {
    const tx = x(tick).toFixed(1);
    parts.push(
      `<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${top + items.length * rowH}" stroke="${tick === 1 ? '#000' : '#ddd'}" stroke-width="${tick === 1 ? 1.5 : 1}"/>`,
      `<text x="${tx}" y="${top + items.length * rowH + 16}" text-anchor="middle" fill="#555">${tick}x</text>`,
    );
  }
  parts.push(
    `<text x="${x(1).toFixed(1)}" y="${top + items.length * rowH + 30}" text-anchor="middle" fill="#000">budget</text>`,
  );
  items.forEach((it, i) => {
    const y = top + i * rowH;
    const x0 = x(Math.min(1, it.headroom));
    const x1 = x(Math.max(1, it.headroom));
    parts.push(
      `<text x="${labelW - 8}" y="${y + 15}" text-anchor="end">${esc(it.label.length > 78 ? `${it.label.slice(0, 75)}...` : it.label)}</text>`,
      `<rect x="${x0.toFixed(1)}" y="${y + 4}" width="${Math.max(1, x1 - x0).toFixed(1)}" height="${rowH - 8}" fill="${it.pass ? '#2e7d32' : '#c62828'}"/>`,
      `<text x="${labelW + plotW + 8}" y="${y + 15}" fill="#333">${esc(it.text)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
