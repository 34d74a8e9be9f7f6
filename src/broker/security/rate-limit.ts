import type { Clock } from '../../core/clock.js';

/**
 * A fixed-window counter per key (an IP address for dashboard logins). In memory: each broker instance limits on
 * its own, which is the right bound for brute-forcing a 256-bit key through one instance's login form.
 */
export function createRateLimiter(options: {
  limit: number;
  windowMs: number;
  clock: Clock;
  maxKeys?: number;
}) {
  const windows = new Map<string, { start: number; count: number }>();
  const maxKeys = options.maxKeys ?? 10_000;
  return {
    /** Counts one attempt; returns false when over the limit, with seconds until the window resets. */
    hit(key: string): { allowed: boolean; retryAfterSec: number } {
      const now = options.clock.now();
      let w = windows.get(key);
      if (!w || now - w.start >= options.windowMs) {
        if (!w && windows.size >= maxKeys) {
          // Bounded memory under a spray of addresses: drop the oldest windows.
          for (const [k, v] of windows) if (now - v.start >= options.windowMs) windows.delete(k);
          if (windows.size >= maxKeys) windows.delete(windows.keys().next().value as string);
        }
        w = { start: now, count: 0 };
        windows.set(key, w);
      }
      w.count++;
      const retryAfterSec = Math.ceil((w.start + options.windowMs - now) / 1000);
      return { allowed: w.count <= options.limit, retryAfterSec };
    },
    /** Without counting: seconds until `key` may try again when it is over the limit now, else 0. */
    peek(key: string): number {
      const w = windows.get(key);
      const now = options.clock.now();
      if (!w || now - w.start >= options.windowMs || w.count < options.limit) return 0;
      return Math.max(1, Math.ceil((w.start + options.windowMs - now) / 1000));
    },
    reset(key: string): void {
      windows.delete(key);
    },
    /** How many windows are held (the memory bound under a spray of addresses). */
    size(): number {
      return windows.size;
    },
  };
}
