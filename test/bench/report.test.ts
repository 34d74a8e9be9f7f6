import { describe, expect, it } from 'vitest';
// The benchmark runner's pure parts (plain JS under bench/, no types).
import {
  budgetRow,
  budgetRows,
  formatValue,
  median,
  meets,
  parseBudget,
  percentile,
  ratio,
  renderBudgetSvg,
  renderConsole,
  renderMarkdown,
  rowsTable,
} from '../../bench/support/report.js';

describe('bench report: statistics', () => {
  it('median of odd and even samples, NaN for none, input left unsorted', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('nearest-rank percentiles', () => {
    const xs = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile(xs, 99)).toBe(99);
    expect(percentile(xs, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });

  it('ratio guards a zero or missing base', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNaN();
    expect(ratio(Number.NaN, 2)).toBeNaN();
  });
});

describe('bench report: budgets', () => {
  it('parses >=, <= and bare numbers; rejects the rest', () => {
    expect(parseBudget('>= 0.8x')).toEqual({ op: '>=', target: 0.8 });
    expect(parseBudget('<=2 ms')).toEqual({ op: '<=', target: 2 });
    expect(parseBudget('0.9')).toEqual({ op: '>=', target: 0.9 });
    expect(parseBudget(5)).toEqual({ op: '>=', target: 5 });
    expect(parseBudget('index scan')).toBeUndefined();
    expect(parseBudget(undefined)).toBeUndefined();
  });

  it('meets compares in the budget direction, inclusive', () => {
    expect(meets(0.8, '>= 0.8x')).toBe(true);
    expect(meets(0.79, '>= 0.8x')).toBe(false);
    expect(meets(2, '<= 2 ms')).toBe(true);
    expect(meets(2.01, '<= 2 ms')).toBe(false);
    expect(meets(Number.NaN, '>= 1')).toBeUndefined();
    expect(meets(1, 'whatever')).toBeUndefined();
  });

  it('budgetRow sets pass, and a missing measurement never passes', () => {
    expect(budgetRow('a', 0.9, 'x', '>= 0.8x')).toEqual({
      name: 'a',
      value: 0.9,
      unit: 'x',
      budget: '>= 0.8x',
      pass: true,
    });
    expect(budgetRow('a', 0.5, 'x', '>= 0.8x', 'why').pass).toBe(false);
    expect(budgetRow('a', Number.NaN, 'x', '>= 0.8x').pass).toBe(false);
  });
});

describe('bench report: rendering', () => {
  const sections = [
    {
      id: 'sdk',
      title: 'SDK send',
      rows: [
        { name: 'raw undici', value: 20_000.4, unit: 'req/s', ratio: 1 },
        { name: 'wacloud', value: 18_000, unit: 'req/s', ratio: 0.9 },
        budgetRow('wacloud ÷ raw | undici', 0.9, 'x', '>= 0.8x'),
      ],
      notes: ['a note', 'plan:', '```', 'SEARCH t USING INDEX i', '```'],
      seconds: 3.2,
    },
    {
      id: 'proxy',
      title: 'Proxy',
      rows: [budgetRow('p99 added', 3.5, 'ms', '<= 2 ms', 'busy machine')],
      notes: [],
    },
    { id: 'cold', title: 'Cold', rows: [], error: 'boom' },
  ];
  const meta = {
    date: '2026-01-01T00:00:00Z',
    machine: '2 × Test CPU',
    node: '20.0.0',
    commit: 'abc123',
    quick: false,
    loadBefore: '1.00 0.50 0.20',
    loadAfter: '2.00 1.00 0.50',
    busy: true,
    command: 'npm run bench',
    chart: 'chart.svg',
  };

  it('formats values for people', () => {
    expect(formatValue(20_000.4, 'req/s')).toBe('20,000 req/s');
    expect(formatValue(0.91234, 'x')).toBe('0.912x');
    expect(formatValue(0)).toBe('0');
    expect(formatValue(Number.NaN, 'ms')).toBe('n/a');
    expect(formatValue('yes')).toBe('yes');
  });

  it('collects budget rows with their section', () => {
    expect(budgetRows(sections).map((r) => [r.section, r.name, r.pass])).toEqual([
      ['SDK send', 'wacloud ÷ raw | undici', true],
      ['Proxy', 'p99 added', false],
    ]);
  });

  it('markdown: meta line, provisional flag, summary of misses, escaped cells, failures', () => {
    const md = renderMarkdown(meta, sections);
    expect(md).toContain('Measured 2026-01-01T00:00:00Z on 2 × Test CPU, Node 20.0.0, commit abc123');
    expect(md).toContain('**Provisional');
    expect(md).toContain('1 of 2 budgets missed: Proxy: p99 added.');
    expect(md).toContain('wacloud ÷ raw \\| undici');
    expect(md).toContain('| p99 added | 3.5 ms |  | <= 2 ms | **NO** | busy machine |');
    expect(md).toContain('**Failed**: boom');
    expect(md).toContain('![budgets chart](chart.svg)');
    expect(md).toContain('- a note\n- plan:\n```\nSEARCH t USING INDEX i\n```');
    expect(rowsTable(sections[0].rows).split('\n')).toHaveLength(5);
  });

  it('console: one line per row with ratio and verdict', () => {
    const text = renderConsole(sections[1]);
    expect(text).toContain('== Proxy');
    expect(text).toMatch(/p99 added\s+3\.5 ms\s+budget <= 2 ms: MISSED\s+\(busy machine\)/);
    expect(renderConsole(sections[2])).toContain('FAILED: boom');
  });

  it('SVG: one bar per parseable budget, coloured by verdict, text escaped', () => {
    const rows = [
      ...budgetRows(sections),
      { name: 'plan <uses> index', value: 'yes', budget: 'index scan', pass: true, section: 'Sweep' },
    ];
    const svg = renderBudgetSvg(rows, { subtitle: 'a & b' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.match(/<rect [^>]*fill="#2e7d32"/g)).toHaveLength(1);
    expect(svg.match(/<rect [^>]*fill="#c62828"/g)).toHaveLength(1);
    expect(svg).toContain('a &amp; b');
    expect(svg).toContain('proxy: p99 added');
    expect(svg).not.toContain('<uses>');
  });
});
