import { describe, expect, it } from 'vitest';
// bench/profile.js's summary of a V8 CPU profile (plain JS under bench/).
import { frameKey, profileTables, summarizeProfile } from '../../bench/support/cpu-profile.js';

const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber });
// (root) → handle (dist) → parse (dist) → handle again (recursion); (root) → (idle); (root) → (garbage collector)
const profile = {
  startTime: 1_000,
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('handle', 'file:///repo/dist/emulator/fast-send.js', 45), children: [3] },
    { id: 3, callFrame: frame('parse', 'file:///repo/dist/emulator/context.js', 9), children: [4] },
    { id: 4, callFrame: frame('handle', 'file:///repo/dist/emulator/fast-send.js', 45), children: [] },
    { id: 5, callFrame: frame('(idle)'), children: [] },
    { id: 6, callFrame: frame('(garbage collector)'), children: [] },
  ],
  // sample i took timeDeltas[i] µs; the last one falls after the window used below
  samples: [2, 3, 4, 5, 6, 3],
  timeDeltas: [1_000, 2_000, 3_000, 4_000, 1_000, 5_000],
};

describe('cpu profile summary', () => {
  it('names frames by function, shortened path and 1-based line', () => {
    expect(frameKey(frame('f', 'file:///srv/app/dist/broker/inbox.js', 9))).toBe('f dist/broker/inbox.js:10');
    expect(frameKey(frame('g', 'file:///a/node_modules/undici/lib/x.js', 0))).toBe('g undici/lib/x.js:1');
    expect(frameKey(frame('', ''))).toBe('(anonymous)');
  });

  it('sums self and inclusive time over busy samples, recursion counted once, idle apart', () => {
    const s = summarizeProfile(profile);
    expect(s.totalMs).toBe(16);
    expect(s.idleMs).toBe(4);
    expect(s.busyMs).toBe(12);
    const self = Object.fromEntries(s.self.map((f) => [f.key, f.ms]));
    expect(self).toEqual({
      'handle dist/emulator/fast-send.js:46': 4,
      'parse dist/emulator/context.js:10': 7,
      '(garbage collector)': 1,
    });
    const inclusive = Object.fromEntries(s.inclusive.map((f) => [f.key, f.ms]));
    expect(inclusive['handle dist/emulator/fast-send.js:46']).toBe(11); // 1 + 2 + 3 + 5, the recursion once
    expect(inclusive['(root)']).toBe(12);
    expect(s.self[0]).toMatchObject({ key: 'parse dist/emulator/context.js:10', share: 7 / 12 });
  });

  it('keeps only the samples inside a time window', () => {
    // sample end times: 2000, 4000, 7000, 11000, 12000, 17000
    const s = summarizeProfile(profile, { fromUs: 3_000, toUs: 12_000 });
    // the samples ending at 4000, 7000, 11000 (idle) and 12000: 2 + 3 + 4 + 1 ms
    expect(s.totalMs).toBe(10);
    expect(s.busyMs).toBe(6);
  });

  it('renders the self table and the wacloud-only inclusive table', () => {
    const text = profileTables(summarizeProfile(profile), { n: 2 });
    expect(text).toContain('| 58.3 | `parse dist/emulator/context.js:10` |');
    expect(text).toContain('| inclusive % of busy | frame (wacloud code) |');
    expect(text).not.toMatch(/inclusive[\s\S]*\(root\)/);
  });
});
