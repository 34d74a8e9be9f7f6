import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// The README's performance table is generated from bench/results/latest.md (plain JS under bench/).
import {
  BEGIN_MARKER,
  currentReadmeBlock,
  END_MARKER,
  parseResults,
  README_ROWS,
  readmeRow,
  renderReadmeBlock,
  replaceReadmeBlock,
  tableCells,
} from '../../bench/support/readme-table.js';
import { type BenchSection, renderMarkdown } from '../../bench/support/report.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const latest = readFileSync(new URL('../../bench/results/latest.md', import.meta.url), 'utf8');

const meta = {
  date: '2026-12-04T10:00:00Z',
  machine: '2 × Test CPU, 8 GiB, linux x64',
  node: '20.20.2',
  commit: 'abc1234',
  loadBefore: '0.1 0.1 0.1',
  loadAfter: '0.2 0.1 0.1',
  command: 'npm run bench',
};
const sections: BenchSection[] = [
  {
    id: 'proxy',
    title: 'Broker Graph proxy vs direct',
    rows: [
      { name: 'direct (SDK → emulator), 64 concurrent', value: 10_000, unit: 'req/s', ratio: 1 },
      { name: 'proxy ÷ direct throughput', value: 0.65, unit: 'x', budget: '>= 0.6x', pass: true },
      { name: 'proxy ÷ bare forwarder throughput', value: 0.9, unit: 'x' },
      { name: 'a | piped name', value: 1, unit: 'x', note: 'a | b' },
    ],
  },
  {
    id: 'webhook',
    title: 'Webhook ingest (verify + persist + acknowledge)',
    rows: [
      {
        name: 'broker, SQLite inbox ÷ bare server',
        value: 0.61,
        unit: 'x',
        budget: '>= 0.5x',
        pass: true,
      },
      {
        name: 'broker, PostgreSQL inbox ÷ bare server',
        value: 0.41,
        unit: 'x',
        budget: '>= 0.5x',
        pass: false,
      },
    ],
  },
];

describe('README performance table', () => {
  it('README.md holds exactly the block generated from bench/results/latest.md (npm run bench:readme)', () => {
    const block = currentReadmeBlock(readme);
    expect(block, `README.md needs ${BEGIN_MARKER} … ${END_MARKER}`).toBeDefined();
    expect(block).toBe(renderReadmeBlock(parseResults(latest)));
  });

  it('every README row is found in latest.md or says it was not in that run', () => {
    const parsed = parseResults(latest);
    for (const spec of README_ROWS) {
      const row = readmeRow(parsed, spec);
      expect(row.against.length).toBeGreaterThan(0);
      expect(row.measured.length).toBeGreaterThan(0);
    }
  });

  it('reads what report.js writes: facts, values, budgets, escaped pipes', () => {
    const parsed = parseResults(renderMarkdown({ ...meta, busy: true }, sections));
    expect(parsed.meta).toEqual({
      date: meta.date,
      machine: meta.machine,
      node: '20.20.2',
      commit: 'abc1234',
      quick: false,
      provisional: true,
    });
    const proxy = parsed.sections.get('Broker Graph proxy vs direct');
    expect(proxy?.rows.get('proxy ÷ direct throughput')).toMatchObject({
      value: '0.65x',
      budget: '>= 0.6x',
      met: 'yes',
    });
    expect(proxy?.rows.get('a | piped name')?.note).toBe('a | b');
    expect(tableCells('| a \\| b | c |')).toEqual(['a | b', 'c']);
  });

  it('a changed measurement changes the block, with its verdict and its baseline', () => {
    const before = renderReadmeBlock(parseResults(renderMarkdown(meta, sections)));
    expect(before).toContain(
      '| Broker Graph proxy throughput | direct SDK → emulator sends, same run | 0.65x (vs the bare forwarder: 0.9x) | >= 0.6x: met |',
    );
    expect(before).toContain('0.61x / 0.41x | >= 0.5x: met 1 of 2, **missed** 1 |');
    expect(before).toContain('commit abc1234.');
    expect(before).not.toContain('Provisional');
    const slower = structuredClone(sections);
    slower[0]!.rows![1] = { ...slower[0]!.rows![1]!, value: 0.42, pass: false };
    const after = renderReadmeBlock(parseResults(renderMarkdown(meta, slower)));
    expect(after).not.toBe(before);
    expect(after).toContain('0.42x (vs the bare forwarder: 0.9x) | >= 0.6x: **missed** |');
  });

  it('rows of a benchmark absent from the run say so instead of inventing a number', () => {
    const block = renderReadmeBlock(parseResults(renderMarkdown(meta, sections)));
    expect(block).toMatch(/Cold start[^\n]*\| absolute \| not in this run \(added after it\) \| — \|/);
  });

  it('replaces only the marked block, and refuses a README without markers', () => {
    const text = `intro\n${BEGIN_MARKER}\nold\n${END_MARKER}\noutro\n`;
    expect(replaceReadmeBlock(text, `${BEGIN_MARKER}\nnew\n${END_MARKER}`)).toBe(
      `intro\n${BEGIN_MARKER}\nnew\n${END_MARKER}\noutro\n`,
    );
    expect(() => replaceReadmeBlock('no markers', 'x')).toThrow(/no generated benchmark block/);
    expect(() => parseResults('# something else')).toThrow(/not a benchmark results file/);
  });
});
