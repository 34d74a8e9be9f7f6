import { describe, expect, it } from 'vitest';
import { DASHBOARD_SCRIPT, relativeTime } from './script.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 0, 1);

describe('dashboard script', () => {
  it('words relative times as a countdown to the second within 8 days, days and hours beyond', () => {
    expect(relativeTime(NOW + 7 * DAY - 5_000, NOW)).toBe('in 6 d 23 h 59 min 55 s');
    expect(relativeTime(NOW + 65_000, NOW)).toBe('in 1 min 5 s');
    expect(relativeTime(NOW, NOW)).toBe('in 0 s');
    expect(relativeTime(NOW - 3 * 3_600_000, NOW)).toBe('3 h 0 min 0 s ago');
    expect(relativeTime(NOW + 20 * DAY + 3_600_000 + 59_000, NOW)).toBe('in 20 d 1 h');
    expect(relativeTime(NOW - 50 * DAY, NOW)).toBe('50 d 0 h ago');
  });

  it('embeds the same wording the server renders, and no inline-handler or eval-style code', () => {
    const source = /function relativeTime[\s\S]*?\n}\n/.exec(DASHBOARD_SCRIPT)?.[0];
    expect(source).toBeDefined();
    const browserSide = new Function(`${source}; return relativeTime;`)() as typeof relativeTime;
    for (const at of [NOW + 7 * DAY - 5_000, NOW - 3_600_000, NOW + 30 * DAY, NOW])
      expect(browserSide(at, NOW)).toBe(relativeTime(at, NOW));
    expect(DASHBOARD_SCRIPT).not.toMatch(/\beval\(|new Function|innerHTML|onclick/);
  });
});
